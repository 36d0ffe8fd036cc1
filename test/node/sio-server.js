// Node's socket.io 4 echo server with its defaults, for bench/idlemem
// -layer socketio: node --expose-gc sio-server.js 127.0.0.1:3100
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const [host, port] = process.argv[2].split(":");
const httpServer = http.createServer((req, res) => {
  if (req.url === "/gc") {
    global.gc && global.gc();
    res.end("ok");
  }
});
const io = new Server(httpServer);
io.on("connection", (socket) => {
  socket.on("message", (...args) => socket.emit("message", ...args));
  socket.on("blast", (n) => {
    for (let i = 0; i < n; i++) io.emit("tick", i);
  });
});
httpServer.listen(Number(port), host);
