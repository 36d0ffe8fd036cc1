// A second WebSocket for an Engine.IO session that already upgraded, for
// transports_test.go: engine.io-client (v6 for protocol 4, v3 for protocol 3)
// opens a session and upgrades it; then the ws package's client opens a
// WebSocket with the same sid. As with Node's server it must open (101) and
// be closed at once, with no error: ws has no "error" listener here, so an
// HTTP 400 ("Unexpected server response: 400") throws and fails the run.
// The first session must keep working.
//
// usage: node eio-second-ws.js '{"url":"http://host:port", "version":3|6}'
// Prints one JSON line {"ok":true, "secondOpened":..., "secondCode":..., ...}.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const WebSocket = require("ws");
const eio3 = require("eio-client-v3");
const { Socket: Socket6 } = require("eio-client-v6");
const { report, fail, step, withTimeout, once, run } = require("./helpers");

async function main() {
  const opts = { path: "/engine.io", transports: ["polling", "websocket"] };
  const socket = cfg.version === 3 ? eio3(cfg.url, opts) : new Socket6(cfg.url, opts);
  await once(socket, "open");
  report.sid = socket.id;
  if (socket.transport.name !== "websocket") await once(socket, "upgrade");
  step("upgraded");

  const eio = cfg.version === 3 ? 3 : 4;
  const url = `${cfg.url.replace(/^http/, "ws")}/engine.io/?EIO=${eio}&transport=websocket&sid=${socket.id}`;
  const second = new WebSocket(url);
  report.secondOpened = false;
  second.on("open", () => {
    report.secondOpened = true;
  });
  second.on("message", (data) => fail(`the second WebSocket got a message: ${data}`));
  const [code, reason] = await once(second, "close");
  report.secondCode = code;
  report.secondReason = reason.toString();
  step("second closed");

  const echoed = withTimeout(new Promise((resolve) => socket.once("message", resolve)), "the echo");
  socket.send("still here");
  const data = await echoed;
  if (data !== "still here") fail(`echo ${data}`);
  if (socket.transport.name !== "websocket") fail(`transport ${socket.transport.name}`);
  step("first still works");
  socket.close();
}

run(main);
