// Connection state recovery with socket.io-client 4, for
// server/clients_test.go: a client whose connection is cut comes back with
// its id, rooms and data, and receives what was broadcast while it was away.
//
// usage: node sio-recovery.js '{"url":..., "transport":"websocket"|"polling"}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const { io } = require("sio-client-v4");

const { report, fail, step, withTimeout, once, emitAck, run } = require("./helpers");

async function main() {
  const s = io(cfg.url, { transports: [cfg.transport], forceNew: true, reconnectionDelay: 300, reconnectionDelayMax: 300 });
  const seen = [];
  s.on("broadcast", (...args) => seen.push(args));
  await once(s, "connect");
  if (s.recovered) fail("recovered on the first connection");
  const id = s.id;
  await emitAck(s, "join", "r");
  await emitAck(s, "set-data", "precious");
  await emitAck(s, "to", "r", "e1");
  await withTimeout(new Promise((r) => (function wait() { seen.length ? r() : setTimeout(wait, 20); })()), "e1");
  // The offset comes as the last argument, as with Node.
  if (seen[0][0] !== "e1" || typeof seen[0][1] !== "string") fail(`e1: ${JSON.stringify(seen)}`);
  step("first connection");

  await emitAck(s, "emit-while-away", 150);
  const gone = once(s, "disconnect");
  const back = gone.then(() => once(s, "connect"));
  s.io.engine.close(); // the connection is cut; the client reconnects
  await back;
  if (!s.recovered) fail("not recovered");
  if (s.id !== id) fail(`id ${s.id}, was ${id}`);
  await new Promise((r) => setTimeout(r, 200));
  const names = seen.map((a) => a[0]);
  if (JSON.stringify(names) !== JSON.stringify(["e1", "e2 to r", "e3 to all"])) fail(`missed events: ${JSON.stringify(seen)}`);
  const rooms = (await emitAck(s, "rooms"))[0];
  if (!rooms.includes("r")) fail(`rooms ${rooms}`);
  if ((await emitAck(s, "get-data"))[0] !== "precious") fail("data lost");
  step("recovered");

  // A client that says goodbye is not recovered.
  s.disconnect();
  const again = once(s, "connect");
  s.connect();
  await again;
  if (s.recovered) fail("recovered after a deliberate disconnect");
  step("not recovered after disconnect");
}

run(main);
