// A Node.js socket.io 4 server with @socket.io/redis-adapter 8 and the
// Admin UI's own server side (@socket.io/admin-ui's instrument), to share
// one cluster with a siogo node in admin/admin_test.go's TestNodeInterop.
//
// usage: node admin-node.js '{"redis":"redis://...", "port":N, "serverId":"..."}'
// Prints "listening" once subscribed and serving.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { instrument } = require("@socket.io/admin-ui");
const { createClient } = require("redis");

async function main() {
  const pub = createClient({ url: cfg.redis });
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });
  instrument(io, { auth: false, mode: "development", serverId: cfg.serverId });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (ack) ack();
    });
  });
  httpServer.listen(cfg.port, "127.0.0.1", () => console.log("listening"));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
