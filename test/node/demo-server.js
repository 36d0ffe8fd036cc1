// The demo application of shared/demo-contract.md on Node's socket.io 4
// (from this directory's lock file), with its defaults, as a user would run
// it: the side-by-side bench (bench/compare) and siobench's tests aim the
// same clients at it and at siogo.
//
//   node demo-server.js 127.0.0.1:3000 [tick-ms] [cert.pem key.pem]
//
// With a certificate and its key it serves HTTPS and WSS (Node's https
// server), as siogo does with --tls-cert and --tls-key.
// Engine.IO 3 clients are allowed (allowEIO3), as the contract asks;
// /ws is the plain WebSocket echo. Prints "listening" once it listens.
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { WebSocketServer } = require("ws");

const [host, port] = (process.argv[2] || "127.0.0.1:3000").split(":");
const tick = Number(process.argv[3] || 2500);

const [certFile, keyFile] = [process.argv[4], process.argv[5]];
const handler = (req, res) => {
  if (req.url === "/healthz") {
    res.end("ok\n");
    return;
  }
  res.writeHead(404);
  res.end();
};
const fs = require("fs");
const httpServer = certFile
  ? require("https").createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, handler)
  : http.createServer(handler);
const io = new Server(httpServer, { allowEIO3: true });

const roomArg = (args) => (typeof args[0] === "string" ? args[0] : undefined);
const lastAck = (args) => (typeof args[args.length - 1] === "function" ? args.pop() : undefined);

io.on("connection", (socket) => {
  socket.on("message", (...args) => {
    const ack = lastAck(args);
    socket.emit("message", ...args);
    if (ack) ack(...args);
  });
  socket.on("broadcast", (...args) => {
    const ack = lastAck(args);
    io.emit("broadcast", ...args);
    if (ack) ack();
  });
  socket.on("join", (...args) => {
    const ack = lastAck(args);
    const room = roomArg(args);
    if (room === undefined) return;
    socket.join(room);
    if (ack) ack(room);
  });
  socket.on("leave", (...args) => {
    const ack = lastAck(args);
    const room = roomArg(args);
    if (room === undefined) return;
    socket.leave(room);
    if (ack) ack(room);
  });
  socket.on("to", (...args) => {
    const ack = lastAck(args);
    const room = roomArg(args);
    if (room === undefined) return;
    io.to(room).emit("broadcast", ...args.slice(1));
    if (ack) ack();
  });
});

// The tick is node-local.
setInterval(() => io.local.emit("timestamp", Date.now()), tick);

// Plain WebSocket at /ws: echo, and the timestamp as text every tick.
const wss = new WebSocketServer({ noServer: true });
httpServer.on("upgrade", (req, sock, head) => {
  if (req.url.split("?")[0] !== "/ws") return; // socket.io's own handles the rest
  wss.handleUpgrade(req, sock, head, (ws) => {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});
setInterval(() => {
  const now = String(Date.now());
  for (const ws of wss.clients) ws.send(now);
}, tick);

httpServer.listen(Number(port), host, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
