// Drives socket.io-client 4 or 2 against the programs of
// compat/googollee/internal/examples (googollee/go-socket.io programs
// built on siogo), for compat/googollee/programs_test.go.
//
// usage: node googollee-client.js '{"program":"defaulthttp"|"features"|"redisadapter",
//          "url":..., "url2": (redisadapter: the second node), "version":4|2,
//          "transport":"websocket"|"polling"|"upgrade"}'
// Prints one JSON line {"ok":true, ...} and exits 0, or the failure and exits 1.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const v4 = cfg.version === 4;
const lib = v4 ? require("sio-client-v4") : require("sio-client-v2");
const io = v4 ? lib.io : lib;
const Manager = lib.Manager;

const { report, fail, step, withTimeout, once, emitAck, sleep, run } = require("./helpers");

function opts(extra = {}) {
  const transports = cfg.transport === "upgrade" ? ["polling", "websocket"] : [cfg.transport];
  return Object.assign({ transports, forceNew: true, reconnection: false }, extra);
}

function connected(socket) {
  return withTimeout(
    new Promise((resolve, reject) => {
      if (socket.connected) return resolve(socket);
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", (e) => reject(e));
      if (!v4) socket.once("error", (e) => reject(e));
    }),
    "connect",
  );
}

// nsp opens namespace name on manager m. Both clients open a socket of
// an autoConnect manager at once; a second CONNECT would be a protocol
// error.
function nsp(m, name) {
  const s = m.socket(name);
  if (v4 && !s.active) s.connect();
  return s;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function expect(what, got, want) {
  if (!same(got, want)) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function upgraded(s) {
  if (cfg.transport !== "upgrade") return;
  const engine = s.io.engine;
  for (let i = 0; i < 100 && engine.transport.name !== "websocket"; i++) await sleep(50);
  if (engine.transport.name !== "websocket") fail("no upgrade to websocket");
  step("upgrade");
}

async function defaulthttp() {
  const m = new Manager(cfg.url, opts());
  const a = nsp(m, "/");
  await connected(a);
  step("connect");
  await upgraded(a);

  const reply = once(a, "reply");
  a.emit("notice", "hello");
  expect("reply", await reply, ["have hello"]);
  step("notice");

  const chat = nsp(m, "/chat");
  await connected(chat);
  expect("chat ack", await emitAck(chat, "msg", "hi"), ["recv hi"]);
  step("chat");

  const bye = once(a, "bye");
  const gone = once(a, "disconnect");
  a.emit("bye", () => {});
  expect("bye", await bye, [""]);
  report.byeReason = (await gone)[0];
  step("bye");
}

async function features() {
  const query = { user: "ann" };
  const m = new Manager(cfg.url, opts({ query }));
  const a = nsp(m, "/");
  const welcome = once(a, "welcome");
  await connected(a);
  const engineID = a.io.engine.id;
  expect("welcome", await welcome, [engineID]);
  step("connect");
  await upgraded(a);

  expect("id", await emitAck(a, "id"), [engineID]);
  if (!v4 && a.id !== engineID) fail(`v2 socket.id ${a.id} is not the session id ${engineID}`);
  expect("whoami", await emitAck(a, "whoami"), ["ann"]);
  a.emit("remember", "bob");
  expect("SetContext", await emitAck(a, "whoami"), ["bob"]);
  step("context");

  expect("echo", await emitAck(a, "echo", "hé ✓ 😀"), ["hé ✓ 😀"]);
  expect("struct", await emitAck(a, "struct", { from: "a", text: "t", count: 1 }), [
    { from: "a", text: "t", count: 2, tags: ["seen"] },
  ]);
  expect("pointer", await emitAck(a, "pointer", { from: "p", text: "q" }), ["p:q"]);
  expect("raw", await emitAck(a, "raw", { b: 1, a: [1, 2], s: "<&>" }), ['{"b":1,"a":[1,2],"s":"<&>"}']);
  expect("multi", await emitAck(a, "multi", 41, 1.5, true, { x: 1, y: 2 }, ["a", "b"]), [42, "a,b", false, 2]);
  expect("missing arguments", await emitAck(a, "multi"), [1, "", true, 0]);
  const got = once(a, "noreturn:got");
  expect("no return values", await emitAck(a, "noreturn", "n"), []);
  expect("noreturn event", await got, ["n"]);
  const bin = await emitAck(a, "binary", Buffer.from([1, 2, 3, 250]));
  if (!bin[0] || !Buffer.from(bin[0]).equals(Buffer.from([250, 3, 2, 1]))) fail(`binary: ${JSON.stringify(bin)}`);
  step("typed-arguments");

  let seen = once(a, "error:seen");
  a.emit("number", "not a number", () => fail("an undecodable event was acknowledged"));
  const decodeErr = (await seen)[0];
  if (!/cannot unmarshal/.test(decodeErr)) fail(`decode error: ${decodeErr}`);
  expect("after a bad argument", await emitAck(a, "number", 21), [42]);
  seen = once(a, "error:seen");
  a.emit("panic");
  expect("panic", await seen, ["event call error: handler panicked"]);
  step("onerror");

  a.on("question", (q, ack) => ack("yes " + q, 41));
  const answered = once(a, "answered");
  a.emit("ask", "q");
  expect("server to client ack", await answered, ["yes q", 42]);
  step("server-ack");

  // Rooms and broadcasts, with a second client.
  const b = io(cfg.url, opts());
  await connected(b);
  const aRooms = (await emitAck(a, "join", "r-1"))[0];
  if (!aRooms.includes("r-1") || !aRooms.includes("everyone") || !aRooms.includes(engineID))
    fail(`rooms: ${JSON.stringify(aRooms)}`);
  await emitAck(b, "join", "r-1");
  expect("RoomLen", await emitAck(a, "roomlen", "r-1"), [2]);
  expect("Rooms", await emitAck(a, "rooms"), [["r-1"]]);
  let ra = once(a, "room");
  let rb = once(b, "room");
  expect("BroadcastToRoom", await emitAck(a, "to", "r-1", { from: "a", text: "x", count: 0 }), [true]);
  expect("room a", await ra, [{ from: "a", text: "x", count: 0 }]);
  expect("room b", await rb, [{ from: "a", text: "x", count: 0 }]);
  ra = once(a, "each");
  rb = once(b, "each");
  expect("ForEach", await emitAck(a, "each", "r-1"), [2]);
  await ra;
  await rb;
  expect("Leave", await emitAck(b, "leave", "r-1"), [1]);
  ra = once(a, "all");
  rb = once(b, "all");
  expect("BroadcastToNamespace", await emitAck(b, "all", "hey"), [true]);
  expect("all a", await ra, ["hey"]);
  expect("all b", await rb, ["hey"]);
  expect("ClearRoom", await emitAck(a, "clear", "r-1"), [0]);
  expect("LeaveAll", await emitAck(b, "leaveall"), [0]);
  const count = (await emitAck(a, "count"))[0];
  if (count < 2) fail(`Count ${count}`);
  step("rooms");

  // Namespaces on the same connection: same id, own context.
  const chat = nsp(m, "/chat");
  await connected(chat);
  expect("chat", await emitAck(chat, "msg", "yo"), ["/chat chat: yo"]);
  expect("chat id", await emitAck(chat, "id"), [engineID]);
  const priv = nsp(m, "/private");
  try {
    await connected(priv);
    fail("OnConnect's error did not refuse");
  } catch (e) {
    const msg = v4 ? e.message : e;
    if (msg !== "no entry") fail(`refusal: ${JSON.stringify(msg)}`);
  }
  const errs = (await emitAck(a, "errors"))[0] || [];
  if (!errs.includes("private: no entry")) fail(`OnError of the refusal: ${JSON.stringify(errs)}`);
  const m2 = new Manager(cfg.url, opts({ query: { token: "secret" } }));
  const priv2 = nsp(m2, "/private");
  await connected(priv2);
  expect("private", await emitAck(priv2, "secret"), ["42"]);
  priv2.disconnect();
  step("namespaces");

  // OnConnect's error at the root.
  const refused = io(cfg.url, opts({ query: { refuse: "1" } }));
  try {
    await connected(refused);
    fail("the root's OnConnect error did not refuse");
  } catch (e) {
    const msg = v4 ? e.message : e;
    if (msg !== "refused at the root") fail(`root refusal: ${JSON.stringify(msg)}`);
  }
  const rootErrs = (await emitAck(a, "errors"))[0] || [];
  if (!rootErrs.includes("refused at the root")) fail(`OnError of the root refusal: ${JSON.stringify(rootErrs)}`);
  const refusedID = refused.io.engine.id;
  refused.close();
  await sleep(200);
  expect("OnDisconnect of a refused conn", await emitAck(a, "reason", refusedID), [""]);
  step("root-refusal");

  // Disconnect reasons as OnDisconnect gets them.
  const reasonOf = async (id, want) => {
    for (let i = 0; i < 50; i++) {
      const r = (await emitAck(a, "reason", id))[0];
      if (r) return expect(`reason of ${want}`, r, want);
      await sleep(50);
    }
    fail(`no OnDisconnect for ${id}`);
  };
  const bID = b.io.engine.id;
  b.disconnect();
  await reasonOf(bID, "client namespace disconnect");
  const c = io(cfg.url, opts());
  await connected(c);
  const cID = c.io.engine.id;
  c.io.engine.close();
  await reasonOf(cID, "transport close");
  const d = io(cfg.url, opts());
  await connected(d);
  // Not in the middle of an upgrade: a session closed then strands a
  // client whose polling is paused for it until the ping timeout.
  await upgraded(d);
  const dID = d.io.engine.id;
  const dGone = once(d, "disconnect");
  d.emit("close");
  report.closeClientReason = (await dGone)[0];
  await reasonOf(dID, "forced close");
  step("disconnect-reasons");
}

async function redisadapter() {
  const a = io(cfg.url, opts());
  const b = io(cfg.url2, opts());
  await Promise.all([connected(a), connected(b)]);
  step("connect");
  let ra = once(a, "event:name");
  let rb = once(b, "event:name");
  a.emit("shout", "hi");
  expect("broadcast a", await ra, ["hi"]);
  expect("broadcast b", await rb, ["hi"]);
  step("broadcast-across-nodes");
  await emitAck(a, "join", "r");
  const got = once(a, "room:msg");
  expect("BroadcastToRoom", await emitAck(b, "to", "r", "m"), [true]);
  expect("room across nodes", await got, ["m"]);
  expect("RoomLen across nodes", await emitAck(b, "count", "r"), [1]);
  step("rooms-across-nodes");
}

run({ defaulthttp, features, redisadapter }[cfg.program]);
