// A Node.js socket.io 4 server with @socket.io/postgres-adapter 0.5, a node
// of the mixed clusters of adapters/postgres's tests, running the
// conformance application (conformance-app.js).
//
// usage: node node-postgres-node.js '{"pg":"postgres://...", "port":N, "name":"n",
//   "channelPrefix":"...", "tableName":"...", "heartbeatInterval":ms, "heartbeatTimeout":ms}'
// Prints "listening" once it listens to PostgreSQL and serves.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/postgres-adapter");
const { Pool } = require("pg");
const { install } = require("./conformance-app");

async function main() {
  const pool = new Pool({ connectionString: cfg.pg });
  pool.on("error", () => {});
  const opts = {};
  for (const k of ["channelPrefix", "tableName", "payloadThreshold", "heartbeatInterval", "heartbeatTimeout"]) {
    if (cfg[k] !== undefined) opts[k] = cfg[k];
  }
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pool, opts) });
  install(io, cfg.name || "node");
  // The adapter LISTENs on a pooled connection of its own once the pool
  // hands it one: wait for it, or the first messages would be missed.
  // (siogo's nodes write "listen" in lower case: this counts Node's only.)
  const channel = (opts.channelPrefix || "socket.io") + "#/";
  for (let i = 0; i < 200; i++) {
    const r = await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1", [`LISTEN "${channel}"`]);
    if (r.rows[0].n > 0) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  httpServer.listen(cfg.port, "127.0.0.1", () => console.log("listening"));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
