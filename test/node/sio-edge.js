// The cases where a client could tell siogo from Node at the edges, for
// server/clients_test.go: the handshake's auth without a payload, empty
// binary arguments, and forceBase64 clients (binary as base64 text).
//
// usage: node sio-edge.js '{"url":..., "version":4|2, "transport":"websocket"|"polling",
//                           "forceBase64":true|false}'
// Prints one JSON line {"ok":true, ...} and exits 0, or the failure and exits 1.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const v4 = cfg.version === 4;
const lib = v4 ? require("sio-client-v4") : require("sio-client-v2");
const io = v4 ? lib.io : lib;

const { report, fail, step, withTimeout, once, emitAck, run } = require("./helpers");

function isBytes(x) {
  return Buffer.isBuffer(x) || x instanceof ArrayBuffer;
}

function same(a, b) {
  if (isBytes(a)) return isBytes(b) && Buffer.from(a).equals(Buffer.from(b));
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && typeof a === "object") {
    if (!b || typeof b !== "object" || isBytes(b)) return false;
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
  }
  return a === b;
}

function show(v) {
  return JSON.stringify(v, (_, x) => (x && x.type === "Buffer" ? `<${x.data.length} bytes>` : x));
}

async function echo(socket, what, ...args) {
  const echoed = once(socket, "message");
  const acked = emitAck(socket, "message", ...args);
  acked.catch(() => {}); // awaited below, unless the echo failed first
  const got = await echoed;
  if (!same(got, args)) throw new Error(`${what}: echo ${show(got)}, sent ${show(args)}`);
  const ack = await acked;
  if (!same(ack, args)) throw new Error(`${what}: ack ${show(ack)}, sent ${show(args)}`);
}

// check runs one case; a failure is recorded and the next case runs, so
// that each failing case shows (a broken connection fails the ones after).
const failures = [];
async function check(name, f) {
  try {
    await f();
    step(name);
  } catch (e) {
    failures.push(`${name}: ${e.message || e}`);
  }
}

async function main() {
  const socket = io(cfg.url, {
    transports: [cfg.transport],
    forceNew: true,
    reconnection: false,
    forceBase64: !!cfg.forceBase64,
  });
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    "connect",
  );
  const engine = socket.io.engine;
  if (engine.transport.name !== cfg.transport) fail(`transport ${engine.transport.name}`);
  report.supportsBinary = engine.transport.supportsBinary;
  step("connect");

  // Node's socket.handshake.auth is {} when the client sent none.
  await check("auth", async () => {
    const [auth, token] = await emitAck(socket, "auth");
    if (!same(auth, {}) || token !== null) throw new Error(`auth ${show(auth)} token ${show(token)}, want {} and null`);
  });
  await check("binary", async () => {
    await echo(socket, "buffer", Buffer.from([0, 1, 2, 250, 255]));
    await echo(socket, "nested buffers", { a: { b: Buffer.from("héllo") }, c: [Buffer.from([7, 8, 9])] }, 42);
  });
  await check("empty-binary", async () => {
    await echo(socket, "empty buffer", Buffer.alloc(0));
    await echo(socket, "empty buffers nested", { a: Buffer.alloc(0), b: [Buffer.from([1]), Buffer.alloc(0)] }, "x");
  });
  if (failures.length) fail(failures.join("; "));
  socket.disconnect();
}

run(main);
