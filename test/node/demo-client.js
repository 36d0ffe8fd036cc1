// Drives the official socket.io-client (4 or 2) against a server of the
// demo contract (../shared/demo-contract.md), over http:// or https://, for
// cmd/siogo's TLS tests.
//
// usage: node demo-client.js '{"url":"https://127.0.0.1:3000", "version":4|2,
//                              "transport":"websocket"|"polling"|"upgrade",
//                              "ca":"-----BEGIN CERTIFICATE-----..." (optional: the server's CA)}'
// "upgrade" starts on polling and must end on websocket. Prints one JSON
// line {"ok":true, "steps":[...], "transport":...} and exits 0, or the
// failure and exits 1.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const v4 = cfg.version === 4;
const lib = v4 ? require("sio-client-v4") : require("sio-client-v2");
const io = v4 ? lib.io : lib;

const { report, fail, step, withTimeout, once, emitAck, run } = require("./helpers");

function connect() {
  const o = {
    transports: cfg.transport === "upgrade" ? ["polling", "websocket"] : [cfg.transport],
    upgrade: cfg.transport === "upgrade",
    forceNew: true,
    reconnection: false,
  };
  if (cfg.ca) o.ca = cfg.ca; // Engine.IO hands it to Node's https and ws
  return io(cfg.url, o);
}

function connected(socket) {
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", (e) => reject(new Error("connect_error: " + String((e && e.message) || e))));
      if (!v4) socket.once("error", (e) => reject(new Error("error: " + String(e))));
    }),
    "connect",
  );
}

function transportOf(socket) {
  return socket.io.engine.transport.name;
}

async function main() {
  const s = await connected(connect());
  step("connect");

  const [ts] = await once(s, "timestamp");
  if (typeof ts !== "number" || Math.abs(Date.now() - ts) > 60000) fail(`timestamp ${ts}`);
  step("timestamp");

  if (cfg.transport === "upgrade") {
    if (transportOf(s) !== "websocket") {
      await withTimeout(new Promise((resolve) => s.io.engine.once("upgrade", resolve)), "upgrade");
    }
    step("upgrade");
  }
  const want = cfg.transport === "polling" ? "polling" : "websocket";
  if (transportOf(s) !== want) fail(`transport ${transportOf(s)}, want ${want}`);

  const bin = Buffer.from([1, 2, 3, 250]);
  const echoed = once(s, "message");
  const acked = emitAck(s, "message", "hé ✓", 42, bin);
  const got = await echoed;
  const ack = await acked;
  for (const a of [got, ack]) {
    if (a.length !== 3 || a[0] !== "hé ✓" || a[1] !== 42 || !Buffer.from(a[2]).equals(bin)) fail(`echo ${JSON.stringify(a)}`);
  }
  step("echo-ack");

  // A message larger than one TLS record (16 KB), both ways.
  const big = "x".repeat(100000);
  const bigEcho = once(s, "message");
  s.emit("message", big);
  const [b] = await bigEcho;
  if (b !== big) fail(`large echo of ${b && b.length} bytes`);
  step("large");

  const bc = once(s, "broadcast");
  await emitAck(s, "broadcast", "all");
  if ((await bc)[0] !== "all") fail("broadcast");
  step("broadcast");

  // A room: joined, broadcast to, left (across nodes with an adapter).
  const room = "room-" + Math.random().toString(36).slice(2);
  const [joined] = await emitAck(s, "join", room);
  if (joined !== room) fail(`join acknowledged ${JSON.stringify(joined)}`);
  const inRoom = once(s, "broadcast");
  await emitAck(s, "to", room, "in the room");
  if ((await inRoom)[0] !== "in the room") fail("room broadcast");
  const [left] = await emitAck(s, "leave", room);
  if (left !== room) fail(`leave acknowledged ${JSON.stringify(left)}`);
  step("room");

  report.transport = transportOf(s);
  s.close();
}

run(main);
