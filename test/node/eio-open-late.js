// A WebSocket client (npm ws) that listens for messages only once its
// WebSocket is open, as the official Engine.IO v3 suite's "sends and
// receives a plain text packet" does: it misses the open packet when ws
// emits it in the same tick as the open event, which happens when the
// packet came in the same read as the 101 (then the suite times out).
// Against Node's server that happens now and then (the 101 and the packet
// leave in two writes, a few hundred microseconds apart); it counts how
// often over many connections, so a test can compare with Node.
//
// usage: node eio-open-late.js '{"url":"http://host:port", "eio":3|4, "rounds":N}'
// Prints one JSON line {"ok":true, "rounds":N, "missed":M}.
"use strict";

const cfg = JSON.parse(process.argv[2]);
const WebSocket = require("ws");
const { report, fail, once, run } = require("./helpers");

// The suite's own wait: a plain promise per event, no other hop.
function waitFor(socket, eventType) {
  return new Promise((resolve) => socket.addEventListener(eventType, resolve, { once: true }));
}

async function main() {
  const url = `${cfg.url.replace(/^http/, "ws")}/engine.io/?EIO=${cfg.eio}&transport=websocket`;
  report.rounds = cfg.rounds;
  report.missed = 0;
  for (let i = 0; i < cfg.rounds; i++) {
    const ws = new WebSocket(url);
    let listening = false;
    let missed = false;
    const first = new Promise((resolve) =>
      ws.once("message", (d) => {
        missed = !listening; // the suite's listener was not there yet
        resolve(String(d));
      })
    );
    await waitFor(ws, "open");
    listening = true;
    const data = await Promise.race([first, new Promise((r) => setTimeout(() => r(null), 8000))]);
    if (data === null) fail(`round ${i}: no open packet`);
    if (!data.startsWith('0{"sid":')) fail(`round ${i}: first message ${data}`);
    if (missed) report.missed++;
    ws.close();
    await once(ws, "close");
  }
}

run(main);
