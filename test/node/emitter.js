// Publishes with @socket.io/redis-emitter 5, for adapters/redis's tests:
// an event to everyone, one to a room, and a room join.
//
// usage: node emitter.js '{"redis":"redis://..."}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");
const { report, step, run } = require("./helpers");

async function main() {
  const client = createClient({ url: cfg.redis });
  await client.connect();
  const io = new Emitter(client);
  io.emit("news", "to all", Buffer.from([1, 2, 3]));
  io.to("r").emit("news", "to room r");
  io.in("r").socketsJoin("joined-by-emitter");
  step("published");
  await new Promise((r) => setTimeout(r, 100));
  await client.quit();
  report.ok = true;
}

run(main);
