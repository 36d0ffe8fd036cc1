// A Node.js socket.io 4 server with @socket.io/redis-adapter 8, to serve
// one cluster with siogo nodes in adapters/redis's tests.
//
// usage: node node-cluster-node.js '{"redis":"redis://...", "port":N, "sharded":false}'
//    or: node node-cluster-node.js '{"cluster":["redis://h1:p1",...], "port":N, "sharded":true}'
// With "cluster", the clients are the redis package's createCluster.
// "prefix" is the channels' prefix (key, or channelPrefix when sharded);
// with "name", the node runs the conformance application
// (conformance-app.js) of package adaptertest instead of the handlers below.
// Prints "listening" once subscribed and serving.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createClient, createCluster } = require("redis");

async function main() {
  const pub = cfg.cluster
    ? createCluster({ rootNodes: cfg.cluster.map((url) => ({ url })) })
    : createClient({ url: cfg.redis });
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const adapter = cfg.sharded
    ? createShardedAdapter(pub, sub, cfg.prefix ? { channelPrefix: cfg.prefix } : {})
    : createAdapter(pub, sub, cfg.prefix ? { key: cfg.prefix } : {});
  const io = new Server(httpServer, { adapter });
  if (cfg.name) {
    require("./conformance-app").install(io, cfg.name);
    httpServer.listen(cfg.port, "127.0.0.1", () => console.log("listening"));
    return;
  }
  io.on("connection", (socket) => {
    socket.on("broadcast", (...args) => io.emit("broadcast", ...args));
    socket.on("join", (room) => socket.join(room));
    socket.on("to", (room, ...args) => io.to(room).emit("broadcast", ...args));
    socket.on("ask-go", async () => {
      try {
        const answers = await io.serverSideEmitWithAck("ping-go", "from node");
        socket.emit("go-answers", answers);
      } catch (e) {
        socket.emit("go-answers", "error: " + e.message);
      }
    });
    socket.on("fetch", async () => {
      const sockets = await io.fetchSockets();
      socket.emit("fetched", sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], address: s.handshake.address })));
    });
  });
  io.on("ping-node", (arg, ack) => ack("pong from node: " + arg));
  httpServer.listen(cfg.port, "127.0.0.1", () => console.log("listening"));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
