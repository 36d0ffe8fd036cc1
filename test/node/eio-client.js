// Drives the official engine.io-client (v3 for protocol 3, v6 for protocol 4)
// against a siogo Engine.IO echo server, for transports_test.go.
//
// usage: node eio-client.js '{"url":..., "version":3|6, "mode":"polling"|"websocket"|"upgrade",
//                             "limit":N, "pingInterval":ms}'
// Prints one JSON line {"ok":true, ...} and exits 0, or prints the failure and exits 1.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const eio3 = require("eio-client-v3");
const { Socket: Socket6 } = require("eio-client-v6");

const { report, fail, step, withTimeout, once, sleep, run } = require("./helpers");

function open() {
  const opts = { path: "/engine.io" };
  if (cfg.mode === "polling") opts.transports = ["polling"];
  if (cfg.mode === "websocket") opts.transports = ["websocket"];
  if (cfg.mode === "upgrade") opts.transports = ["polling", "websocket"];
  if (cfg.jsonp) opts.forceJSONP = true;
  const socket = cfg.version === 3 ? eio3(cfg.url, opts) : new Socket6(cfg.url, opts);
  socket.inbox = [];
  socket.waiters = [];
  socket.on("message", (data) => {
    socket.inbox.push(data);
    const w = socket.waiters.shift();
    if (w) w();
  });
  return socket;
}

async function next(socket) {
  if (socket.inbox.length === 0) {
    await withTimeout(new Promise((resolve) => socket.waiters.push(resolve)), "a message");
  }
  return socket.inbox.shift();
}

function asBuffer(data) {
  if (typeof data === "string") return null;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

async function opened() {
  const socket = open();
  await once(socket, "open");
  if (cfg.mode === "upgrade") {
    if (socket.transport.name !== "websocket") await once(socket, "upgrade");
  }
  const want = cfg.mode === "polling" ? "polling" : "websocket";
  if (socket.transport.name !== want) fail(`transport is ${socket.transport.name}, want ${want}`);
  return socket;
}

// The largest message whose encoded form fits the limit on this transport.
function underLimitSize() {
  if (cfg.mode !== "polling") return cfg.limit - 1; // "4" + data in one frame
  if (cfg.version === 3) {
    // "<len>:4<data>" where len counts "4<data>"
    const n = cfg.limit - 1 - String(cfg.limit).length - 1;
    return n - 1;
  }
  return cfg.limit - 1; // "4" + data, one packet in the payload
}

async function main() {
  // Session 1: echo, binary, order, sizes, idle, server-side close.
  const s = await opened();
  report.sid = s.id;
  step("open");

  const text = "héllo ✓ 😀 \n line \u2028 \"quoted\" \\ end";
  s.send(text);
  const echoed = await next(s);
  if (echoed !== text) fail(`text echo: got ${JSON.stringify(echoed)}`);
  step("text");

  const bin = Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]);
  s.send(cfg.version === 3 ? bin : new Uint8Array(bin));
  const got = asBuffer(await next(s));
  if (!got || !got.equals(bin)) fail(`binary echo: got ${got && got.toString("hex")}`);
  step("binary");

  for (let i = 0; i < 50; i++) s.send("n" + i);
  for (let i = 0; i < 50; i++) {
    const m = await next(s);
    if (m !== "n" + i) fail(`order: message ${i} was ${m}`);
  }
  step("order");

  const big = "x".repeat(underLimitSize());
  s.send(big);
  const bigEcho = await next(s);
  if (bigEcho !== big) fail(`under-limit echo: got ${bigEcho.length} chars, want ${big.length}`);
  step("under-limit");

  let closedEarly = null;
  s.on("close", (reason) => {
    closedEarly = reason;
  });
  await sleep(cfg.pingInterval * 2.5);
  if (closedEarly) fail(`idle session closed: ${closedEarly}`);
  s.send("still here");
  if ((await next(s)) !== "still here") fail("echo after idle");
  step("idle");

  const closed = once(s, "close");
  s.send("close-me");
  const [reason] = await closed;
  report.serverCloseReason = reason;
  step("server-close");

  // Session 2: the client closes; the Go side checks the server saw it.
  const c = await opened();
  report.clientCloseSid = c.id;
  c.close();
  await sleep(100);
  step("client-close");

  // Session 3: a message over the limit closes the session.
  const o = await opened();
  report.overLimitSid = o.id;
  const overClosed = once(o, "close");
  o.send("y".repeat(cfg.limit + 100));
  const [overReason] = await overClosed;
  report.overLimitReason = overReason;
  step("over-limit");

}

run(main);
