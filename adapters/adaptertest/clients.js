// Official socket.io-client 4 sockets that package adaptertest steers: one
// JSON command a line on stdin, one JSON answer a line on stdout. Binary
// travels in the JSON as {"$bin": base64} both ways.
//
//   {"op":"connect","name":n,"url":u}     -> {"id":..}
//      with "reconnect":true the socket reconnects by itself (after 100 ms)
//   {"op":"wait-connect","name":n}        -> {"id":..,"recovered":..} of its next connection
//   {"op":"emit","name":n,"args":[..]}    -> {"ack":[..]}  (the args of the ack)
//   {"op":"next","name":n,"event":e}      -> {"args":[..]} of the next e not yet taken
//   {"op":"none","name":n,"event":e}      -> {"count":k} events e received and not taken
//   {"op":"answer","name":n,"event":e,"with":[..]} -> {}; later e with an ack are acked with "with"
//   {"op":"disconnected","name":n}        -> {"reason":..} once the socket is disconnected
//   {"op":"close","name":n}               -> {}
"use strict";

const readline = require("readline");
let io;
try {
  ({ io } = require("sio-client-v4"));
} catch (e) {
  ({ io } = require("socket.io-client"));
}

const TIMEOUT = 10000;
const sockets = new Map();

function toJSON(v) {
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("base64") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(toJSON);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = toJSON(v[k]);
    return o;
  }
  return v;
}

function fromJSON(v) {
  if (Array.isArray(v)) return v.map(fromJSON);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string" && Object.keys(v).length === 1) return Buffer.from(v.$bin, "base64");
    const o = {};
    for (const k of Object.keys(v)) o[k] = fromJSON(v[k]);
    return o;
  }
  return v;
}

function timeout(promise, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error("timed out waiting for " + what)), TIMEOUT);
    }),
  ]);
}

function get(name) {
  const s = sockets.get(name);
  if (!s) throw new Error("no socket " + name);
  return s;
}

function connect(name, url, reconnect) {
  const s = { events: new Map(), waiters: new Map(), answers: new Map(), gone: null, goneWaiters: [], connects: [], connectWaiters: [] };
  s.socket = io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: !!reconnect,
    reconnectionDelay: 100,
    reconnectionDelayMax: 100,
    randomizationFactor: 0,
  });
  sockets.set(name, s);
  s.socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack && s.answers.has(event)) ack(...fromJSON(s.answers.get(event)));
    const w = s.waiters.get(event);
    if (w && w.length) {
      w.shift()(args);
      return;
    }
    if (!s.events.has(event)) s.events.set(event, []);
    s.events.get(event).push(args);
  });
  let first = true;
  s.socket.on("connect", () => {
    if (first) return void (first = false);
    const c = { id: s.socket.id, recovered: s.socket.recovered };
    const w = s.connectWaiters.shift();
    if (w) w(c);
    else s.connects.push(c);
  });
  s.socket.on("disconnect", (reason) => {
    s.gone = reason;
    for (const w of s.goneWaiters.splice(0)) w(reason);
  });
  return timeout(
    new Promise((resolve, reject) => {
      s.socket.once("connect", () => resolve({ id: s.socket.id }));
      s.socket.once("connect_error", (e) => reject(e));
    }),
    "connect to " + url
  );
}

async function handle(cmd) {
  switch (cmd.op) {
    case "connect":
      return connect(cmd.name, cmd.url, cmd.reconnect);
    case "wait-connect": {
      const s = get(cmd.name);
      if (s.connects.length) return s.connects.shift();
      return timeout(new Promise((r) => s.connectWaiters.push(r)), "reconnection of " + cmd.name);
    }
    case "emit": {
      const s = get(cmd.name);
      const args = fromJSON(cmd.args);
      const ack = await timeout(new Promise((r) => s.socket.emit(...args, (...a) => r(a))), "ack of " + args[0]);
      return { ack: toJSON(ack) };
    }
    case "next": {
      const s = get(cmd.name);
      const q = s.events.get(cmd.event);
      if (q && q.length) return { args: toJSON(q.shift()) };
      if (!s.waiters.has(cmd.event)) s.waiters.set(cmd.event, []);
      const args = await timeout(new Promise((r) => s.waiters.get(cmd.event).push(r)), cmd.event + " on " + cmd.name);
      return { args: toJSON(args) };
    }
    case "none": {
      const q = get(cmd.name).events.get(cmd.event);
      return { count: q ? q.length : 0 };
    }
    case "answer":
      get(cmd.name).answers.set(cmd.event, cmd.with || []);
      return {};
    case "disconnected": {
      const s = get(cmd.name);
      if (s.gone !== null) return { reason: s.gone };
      return { reason: await timeout(new Promise((r) => s.goneWaiters.push(r)), "disconnect of " + cmd.name) };
    }
    case "close":
      get(cmd.name).socket.disconnect();
      sockets.delete(cmd.name);
      return {};
  }
  throw new Error("unknown op " + cmd.op);
}

const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on("line", (line) => {
  queue = queue
    .then(() => handle(JSON.parse(line)))
    .then(
      (v) => process.stdout.write(JSON.stringify(v) + "\n"),
      (e) => process.stdout.write(JSON.stringify({ error: String((e && e.stack) || e) }) + "\n")
    );
});
rl.on("close", () => process.exit(0));
