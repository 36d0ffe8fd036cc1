// The application of package adaptertest's conformance suite, for a
// Node.js node of a mixed cluster: the same events siogo's nodes answer in
// adapters/adaptertest/app.go. Each event acknowledges with its result.
"use strict";

function install(io, name) {
  const nsp = io.of("/");
  io.on("connection", (socket) => {
    socket.on("broadcast", (...args) => {
      const ack = args.pop();
      io.emit("broadcast", ...args);
      ack();
    });
    socket.on("to", (room, ...args) => {
      const ack = args.pop();
      io.to(room).emit("broadcast", ...args);
      ack();
    });
    socket.on("except", (room, ...args) => {
      const ack = args.pop();
      io.except(room).emit("broadcast", ...args);
      ack();
    });
    socket.on("local", (...args) => {
      const ack = args.pop();
      io.local.emit("local", ...args);
      ack();
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack(room);
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      ack(room);
    });
    socket.on("rooms", (ack) => ack([...socket.rooms].sort()));
    socket.on("fetch", async (room, ack) => {
      try {
        const sockets = await (room ? io.in(room) : io).fetchSockets();
        ack(sockets.map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), address: s.handshake.address })));
      } catch (e) {
        ack("error: " + e.message);
      }
    });
    socket.on("sockets-join", (target, room, ack) => {
      (target ? io.in(target) : io).socketsJoin(room);
      ack();
    });
    socket.on("sockets-leave", (target, room, ack) => {
      (target ? io.in(target) : io).socketsLeave(room);
      ack();
    });
    socket.on("kick", (target, ack) => {
      (target ? io.in(target) : io).disconnectSockets();
      ack();
    });
    socket.on("count", async (ack) => ack(await nsp.adapter.serverCount()));
    socket.on("ask", async (arg, ack) => {
      try {
        ack((await io.serverSideEmitWithAck("ping", arg)).sort());
      } catch (e) {
        ack("error: " + e.message);
      }
    });
    socket.on("tell", (arg, ack) => {
      io.serverSideEmit("told", arg);
      ack();
    });
    socket.on("acks", async (ack) => {
      try {
        const answers = await io.timeout(5000).emitWithAck("q");
        ack(answers);
      } catch (e) {
        ack("error: " + e.message);
      }
    });
  });
  io.on("ping", (arg, cb) => cb("pong from " + name + ": " + arg));
  io.on("told", (arg) => io.local.emit("told", name, arg));
}

module.exports = { install };
