// Keeps a steady broadcast stream through siogo's demo application while a
// test breaks things around it (Redis paused or killed, nodes killed or
// restarted), and records what every client saw, for the reliability tests
// (cmd/siogo/chaos_test.go, deploy/deploy_test.go).
//
// usage: node load-clients.js '{"urls":[...], "perUrl":5, "senderUrl":..., "intervalMs":20,
//                               "transports":["websocket"], "reconnectionDelay":1000, "settleMs":0,
//                               "localAddresses":["127.0.0.2",...] (optional, one per client, round robin)}'
// Connects perUrl socket.io-client 4 clients to each URL and one sender to
// senderUrl, prints the line "ready" once all are connected, then the sender
// emits "broadcast" [seq, sentAt] with an ack every intervalMs while it is
// connected. On the line "end" on stdin it stops, waits for every client to
// be connected (at most settleMs), then a second for late packets and acks,
// and prints one JSON line:
//   {ok, sent, clients:[{url, got:[[seq, atMs]...], connects:[ms...], disconnects:[ms...], connected,
//              connectErrors, lastError}],
//    sender:{connects, disconnects}, acks:[[seq, sentMs, ackMs]...]}
"use strict";

const http = require("http");
const { io } = require("sio-client-v4");

const cfg = JSON.parse(process.argv[2]);
const transports = cfg.transports || ["websocket"];
const localAddresses = cfg.localAddresses || [];
let nextAddr = 0;

function connect(url) {
  const o = {
    transports,
    forceNew: true,
    reconnection: true,
    reconnectionDelay: cfg.reconnectionDelay || 1000,
    reconnectionDelayMax: cfg.reconnectionDelayMax || 5000,
  };
  if (localAddresses.length) {
    // Each client leaves from an address of its own: nginx's hash on the
    // client address spreads them over the nodes.
    o.agent = new http.Agent({ localAddress: localAddresses[nextAddr++ % localAddresses.length] });
  }
  const socket = io(url, o);
  const rec = { url, got: [], connects: [], disconnects: [], connected: false, connectErrors: 0, lastError: "" };
  socket.on("connect_error", (e) => {
    rec.connectErrors++;
    const d = e && e.description;
    rec.lastError = String((e && e.message) || e) + (d ? ": " + String(d.message || (d.error && d.error.message) || d) : "");
  });
  socket.on("connect", () => {
    rec.connects.push(Date.now());
    rec.connected = true;
  });
  socket.on("disconnect", () => {
    rec.disconnects.push(Date.now());
    rec.connected = false;
  });
  return { socket, rec };
}

function connected(c) {
  return new Promise((resolve, reject) => {
    if (c.socket.connected) return resolve();
    const t = setTimeout(() => reject(new Error("client of " + c.rec.url + " did not connect")), 10000);
    c.socket.once("connect", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function main() {
  const clients = [];
  for (const url of cfg.urls) {
    for (let i = 0; i < (cfg.perUrl || 5); i++) {
      const c = connect(url);
      c.socket.on("broadcast", (seq) => c.rec.got.push([seq, Date.now()]));
      clients.push(c);
    }
  }
  const sender = connect(cfg.senderUrl || cfg.urls[0]);
  await Promise.all([...clients, sender].map(connected));
  console.log("ready");

  const acks = [];
  let seq = 0;
  const timer = setInterval(() => {
    if (!sender.socket.connected) return; // emitted while down, it would wait in the client's buffer
    const n = seq++;
    const sentAt = Date.now();
    sender.socket.emit("broadcast", n, sentAt, () => acks.push([n, sentAt, Date.now()]));
  }, cfg.intervalMs || 20);

  let buf = "";
  let ending = false;
  process.stdin.on("data", (d) => {
    buf += d;
    if (ending || !buf.includes("end")) return;
    ending = true;
    clearInterval(timer);
    // Give clients still reconnecting up to settleMs to get there.
    const settleUntil = Date.now() + (cfg.settleMs || 0);
    const settled = () => [...clients, sender].every((c) => c.socket.connected) || Date.now() >= settleUntil;
    const wait = () => (settled() ? setTimeout(finish, 1000) : setTimeout(wait, 50));
    wait();
  });
  function finish() {
    const out = {
      ok: true,
      sent: seq,
      clients: clients.map((c) => c.rec),
      sender: { connects: sender.rec.connects, disconnects: sender.rec.disconnects },
      acks,
    };
    const line = JSON.stringify(out) + "\n"; // before close() adds its disconnects
    for (const c of [...clients, sender]) c.socket.close();
    process.stdout.write(line, () => process.exit(0));
  }
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String((e && e.stack) || e) }));
  process.exit(1);
});
