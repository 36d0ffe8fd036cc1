// Node's socket.io 4 with a cors option, for cmd/siogo's comparison of
// CORS answers: node cors-server.js 127.0.0.1:3100 '{"origin":"*"}'
// prints "listening" once it accepts connections.
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const [host, port] = process.argv[2].split(":");
const cors = JSON.parse(process.argv[3]);
const httpServer = http.createServer();
new Server(httpServer, { cors, allowEIO3: true });
httpServer.listen(Number(port), host, () => console.log("listening"));
