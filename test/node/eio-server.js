// Node's engine.io 6 echo server with its defaults, for bench/idlemem to
// measure beside siogo: node --expose-gc eio-server.js 127.0.0.1:3100
// (a third argument "eio3" allows protocol 3, as allowEIO3). It prints
// "listening" once it accepts connections (nodetest.Serve).
"use strict";
const http = require("http");
const { Server } = require("engine.io");
const [host, port] = process.argv[2].split(":");
const httpServer = http.createServer((req, res) => {
  if (req.url === "/gc") {
    global.gc && global.gc();
    res.end("ok");
    return;
  }
  res.writeHead(404).end();
});
const eio = new Server({ allowEIO3: process.argv[3] === "eio3" });
eio.attach(httpServer);
eio.on("connection", (socket) => socket.on("message", (data) => socket.send(data)));
httpServer.listen(Number(port), host, () => console.log("listening"));
