// A Node.js socket.io 4 server with @socket.io/redis-streams-adapter 0.3,
// to serve one cluster with siogo nodes in adapters/redisstreams's tests.
//
// usage: node node-streams-node.js '{"redis":"redis://...", "port":N, "recovery":ms,
//   "streamCount":N, "sharded":bool, "prefix":"...", "name":"n"}' (recovery 0: off).
//   Prints "listening" once serving.
//    or: "cluster":["redis://h1:p1",...] instead of "redis": the redis package's
//   createCluster, as the adapter's own tests run it on a Redis Cluster.
// "prefix" names the stream and the channels' prefix; with "name", the node
// runs the conformance application (conformance-app.js) of package
// adaptertest instead of the demo's handlers.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient, createCluster } = require("redis");

async function main() {
  const client = cfg.cluster
    ? createCluster({ rootNodes: cfg.cluster.map((url) => ({ url })) })
    : createClient({ url: cfg.redis });
  client.on("error", () => {});
  await client.connect();
  const httpServer = http.createServer();
  const adapterOpts = { streamCount: cfg.streamCount || 1, useShardedPubSub: !!cfg.sharded };
  if (cfg.prefix) {
    adapterOpts.streamName = cfg.prefix;
    adapterOpts.channelPrefix = cfg.prefix;
    adapterOpts.sessionKeyPrefix = cfg.prefix + ":session:";
  }
  const opts = { adapter: createAdapter(client, adapterOpts) };
  if (cfg.recovery) opts.connectionStateRecovery = { maxDisconnectionDuration: cfg.recovery };
  const io = new Server(httpServer, opts);
  if (cfg.name) {
    require("./conformance-app").install(io, cfg.name);
    httpServer.listen(cfg.port, "127.0.0.1", () => console.log("listening"));
    return;
  }
  io.on("connection", (socket) => {
    // The demo contract, and what the tests look at.
    socket.on("message", (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      socket.emit("message", ...args);
      if (ack) ack(...args);
    });
    socket.on("broadcast", (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      io.emit("broadcast", ...args);
      if (ack) ack();
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(room);
    });
    socket.on("to", (room, ...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      io.to(room).emit("broadcast", ...args);
      if (ack) ack();
    });
    socket.on("local", (...args) => io.local.emit("local", ...args));
    socket.on("volatile", (...args) => io.volatile.emit("volatile", ...args));
    socket.on("set-data", (v, ack) => {
      socket.data.v = v;
      if (typeof ack === "function") ack();
    });
    socket.on("get-data", (ack) => ack(socket.data && socket.data.v));
    socket.on("rooms", (ack) => ack([...socket.rooms]));
    socket.on("whoami", (ack) => ack({ id: socket.id, recovered: socket.recovered }));
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
    socket.on("count", async () => socket.emit("counted", await io.of("/").adapter.serverCount()));
    socket.on("ask-acks", async () => {
      try {
        const answers = await io.timeout(3000).emitWithAck("q");
        socket.emit("acks", answers.length);
      } catch (e) {
        socket.emit("acks", "error: " + e.message);
      }
    });
    socket.on("join-all", (room) => io.socketsJoin(room));
    socket.on("kick", (room) => io.in(room).disconnectSockets());
  });
  io.on("ping-node", (arg, ack) => ack("pong from node: " + arg));
  httpServer.listen(cfg.port, "127.0.0.1", () => console.log("listening"));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
