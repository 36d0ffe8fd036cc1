// Drives the official socket.io-client (4 for protocol 5, 2 for protocol 4)
// against siogo's Socket.IO test application, for server/clients_test.go.
//
// usage: node sio-client.js '{"url":..., "version":4|2, "transport":"websocket"|"polling",
//                             "parser":"msgpack" (optional, v4 only)}'
// Prints one JSON line {"ok":true, ...} and exits 0, or the failure and exits 1.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const v4 = cfg.version === 4;
const lib = v4 ? require("sio-client-v4") : require("sio-client-v2");
const io = v4 ? lib.io : lib;
const Manager = lib.Manager;

const { report, fail, step, withTimeout, once, emitAck, sleep, run } = require("./helpers");

function opts(extra = {}) {
  const o = { transports: [cfg.transport], forceNew: true, reconnection: false };
  if (cfg.parser === "msgpack") o.parser = require("socket.io-msgpack-parser");
  return Object.assign(o, extra);
}

function connect(nsp = "/", extra = {}) {
  return io(cfg.url + nsp, opts(extra));
}

// connected resolves once the socket is connected, or rejects with the
// refusal a v4 client gets as connect_error and a v2 client as error.
function connected(socket) {
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", (e) => reject(e));
      if (!v4) socket.once("error", (e) => reject(e));
    }),
    "connect",
  );
}

function same(a, b) {
  if (Buffer.isBuffer(a) || a instanceof ArrayBuffer) {
    return Buffer.isBuffer(b) || b instanceof ArrayBuffer ? Buffer.from(a).equals(Buffer.from(b)) : false;
  }
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && typeof a === "object") {
    if (!b || typeof b !== "object") return false;
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
  }
  return a === b;
}

function transportOf(socket) {
  return v4 ? socket.io.engine.transport.name : socket.io.engine.transport.name;
}

async function main() {
  // Connection, echo of every kind of argument, acks.
  const a = await connected(connect("/"));
  if (transportOf(a) !== cfg.transport) fail(`transport ${transportOf(a)}`);
  report.id = a.id;
  step("connect");

  const bin = Buffer.from([1, 2, 3, 250, 251, 252]);
  const args = ["hé ✓ 😀", 42, 1.5, true, null, { a: [1, { b: bin }], s: "x" }, Buffer.from([9, 8, 7]), [bin]];
  const echoed = once(a, "message");
  const acked = emitAck(a, "message", ...args);
  const [got] = [await echoed];
  if (!same(got, args)) fail(`echo: ${JSON.stringify(got)}`);
  if (!same(await acked, args)) fail("echo ack");
  step("echo-binary-ack");

  // Rooms, broadcast to a room, except.
  const b = await connected(connect("/"));
  if ((await emitAck(a, "join", "r"))[0] !== "r") fail("join ack");
  await emitAck(b, "join", "r");
  await emitAck(a, "join", "ex");
  let aGot = 0;
  let bGot = 0;
  a.on("broadcast", () => aGot++);
  b.on("broadcast", () => bGot++);
  await emitAck(a, "to", "r", "hello room");
  await sleep(200);
  if (aGot !== 1 || bGot !== 1) fail(`room broadcast: a=${aGot} b=${bGot}`);
  await emitAck(a, "to-except", "r", "ex", "not for a");
  await sleep(200);
  if (aGot !== 1 || bGot !== 2) fail(`except: a=${aGot} b=${bGot}`);
  const rooms = (await emitAck(a, "rooms"))[0];
  if (!rooms.includes("r") || !rooms.includes("ex") || !rooms.includes(a.id)) fail(`rooms ${rooms}`);
  await emitAck(a, "leave", "r");
  await emitAck(b, "to", "r", "only b");
  await sleep(200);
  if (aGot !== 1 || bGot !== 3) fail(`leave: a=${aGot} b=${bGot}`);
  await emitAck(a, "broadcast", "everyone");
  await sleep(200);
  if (aGot !== 2 || bGot !== 4) fail(`broadcast: a=${aGot} b=${bGot}`);
  step("rooms");

  // Server to client acks, and their timeout.
  a.on("question", (q, ack) => ack("answer to " + q));
  b.on("question", (q, ack) => ack("b answers " + q));
  const answer = (await emitAck(a, "ask", "life"))[0];
  if (answer !== "answer to life") fail(`ask: ${answer}`);
  a.on("ignored", () => {});
  if ((await emitAck(a, "ask-timeout"))[0] !== "timeout") fail("server ack timeout");
  const many = (await emitAck(a, "ask-all", "q"))[0];
  if (!Array.isArray(many) || many.length < 2 || !many.includes("answer to q") || !many.includes("b answers q"))
    fail(`broadcast ack: ${JSON.stringify(many)}`);
  if (v4) {
    const err = await withTimeout(
      new Promise((resolve) => a.timeout(300).emit("no-answer", (e) => resolve(e))),
      "client ack timeout",
    );
    if (!err) fail("client ack timeout did not fire");
  }
  step("acks");

  const count = (await emitAck(a, "fetch"))[0];
  if (count < 2) fail(`fetchSockets: ${count}`);
  step("fetch");

  // Middleware refusal.
  const auth = v4 ? { auth: { token: "bad" } } : { query: { token: "bad" } };
  try {
    await connected(connect("/", auth));
    fail("refused connection connected");
  } catch (e) {
    const msg = v4 ? e.message : e;
    if (v4 && (e.message !== "Not authorized" || !e.data || e.data.code !== 42)) fail(`connect_error: ${JSON.stringify(e)} ${e.message}`);
    if (!v4 && !(msg && msg.code === 42)) fail(`v2 refusal: ${JSON.stringify(msg)}`);
  }
  step("middleware");

  // Several namespaces on one connection, a dynamic one, an unknown one.
  const m = new Manager(cfg.url, opts());
  const root = m.socket("/");
  const chat = m.socket("/chat");
  const dyn = m.socket("/dyn-7");
  if (v4) {
    root.connect();
    chat.connect();
    dyn.connect();
  }
  await Promise.all([connected(root), connected(chat), connected(dyn)]);
  if ((await emitAck(chat, "whoami"))[0] !== "/chat") fail("chat namespace");
  if ((await emitAck(dyn, "whoami"))[0] !== "/dyn-7") fail("dynamic namespace");
  const chatEcho = once(chat, "message");
  chat.emit("message", "in chat");
  if ((await chatEcho)[0] !== "/chat: in chat") fail("chat echo");
  const nope = m.socket("/nope");
  if (v4) nope.connect();
  try {
    await connected(nope);
    fail("unknown namespace connected");
  } catch (e) {
    const msg = v4 ? e.message : e && (e.message || e);
    if (msg !== "Invalid namespace") fail(`unknown namespace: ${JSON.stringify(msg)}`);
  }
  step("namespaces");

  // Disconnects and their reasons; the Go side checks the server's.
  report.clientDisconnectId = b.id;
  b.disconnect();
  const c = await connected(connect("/"));
  report.serverDisconnectId = c.id;
  const cGone = once(c, "disconnect");
  c.emit("disconnect-me");
  report.serverDisconnectReason = (await cGone)[0];
  const d = await connected(connect("/"));
  report.transportCloseId = d.id;
  d.io.engine.close();
  const e = await connected(connect("/"));
  report.closeId = e.id;
  const eGone = once(e, "disconnect");
  e.emit("close-me");
  report.closeReason = (await eGone)[0];
  step("disconnects");

}

run(main);
