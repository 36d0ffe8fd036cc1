// Node's ws (the WebSocket server under Node's engine.io) as a plain echo
// server, permessage-deflate on (its defaults: context takeover, a
// threshold of 1024 bytes) and messages of 1e6 bytes at most: the
// reference internal/wsconform judges, as Autobahn judges ws.
//
// usage: node ws-echo-server.js 127.0.0.1:3100
"use strict";
const WebSocket = require("ws");
const [host, port] = process.argv[2].split(":");
const wss = new WebSocket.WebSocketServer({ host, port: Number(port), perMessageDeflate: true, maxPayload: 1e6 });
wss.on("listening", () => console.log("listening"));
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
