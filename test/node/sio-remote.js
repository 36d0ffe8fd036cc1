// A socket.io-client 4 socket that a Go test steers, for connection state
// recovery across nodes (adapters/redisstreams): one JSON command a line
// on stdin, one JSON answer a line on stdout.
//
//   {"op":"connect","url":...,"auth":{...},"transport":"websocket"|"polling"}
//                                  -> {"id":..,"recovered":..,"pid":..}
//                                  (auth optional: {"pid","offset"} presents a session, as a
//                                  reconnecting client does; transport optional: only that one)
//   {"op":"emit","args":[...]}  -> {"ack":[...]}   (the args of the ack)
//   {"op":"send","args":[...]}  -> {}              (an emit without ack)
//   {"op":"answer","event":..,"args":[...]} -> {}  (acknowledge each later event with args)
//   {"op":"disconnect"}         -> {}              (socket.disconnect(): a DISCONNECT packet)
//   {"op":"wait-event","event":..} -> {"args":[...]} of the first such event not yet waited for
//   {"op":"cut"}                -> {}  once the connection is gone; the client reconnects by itself
//   {"op":"wait-connect"}       -> {"id":..,"recovered":..,"pid":..} of the next connection
//   {"op":"disconnects"}        -> {"reasons":[...]} the disconnect reasons since the last call
//   {"op":"events"}             -> {"events":[[name, ...args], ...]} received since the last call
//   {"op":"close"}              -> exits
// In args, {"$binary": base64} stands for a Buffer of those bytes.
// Every event but "timestamp" is recorded, with all its arguments (the
// offset last).
"use strict";

const readline = require("readline");
const { io } = require("sio-client-v4");
const { withTimeout } = require("./helpers");

let socket;
let events = [];
let disconnects = [];
const connects = [];
let connectWaiter = null;
const eventWaiters = [];

function revive(v) {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {
    if (typeof v.$binary === "string") return Buffer.from(v.$binary, "base64");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
}

function answer(v) {
  process.stdout.write(JSON.stringify(v) + "\n");
}

function onConnect() {
  const c = { id: socket.id, recovered: socket.recovered, pid: socket._pid };
  if (connectWaiter) {
    const w = connectWaiter;
    connectWaiter = null;
    w(c);
  } else {
    connects.push(c);
  }
}

function nextConnect() {
  if (connects.length) return Promise.resolve(connects.shift());
  return withTimeout(new Promise((r) => (connectWaiter = r)), "connect");
}

async function handle(cmd) {
  switch (cmd.op) {
    case "connect":
      socket = io(cmd.url, {
        transports: [cmd.transport || "websocket"],
        forceNew: true,
        reconnectionDelay: 150,
        reconnectionDelayMax: 150,
        randomizationFactor: 0,
        auth: cmd.auth,
      });
      socket.on("connect", onConnect);
      socket.on("disconnect", (reason) => disconnects.push(reason));
      socket.onAny((name, ...args) => {
        if (name === "timestamp") return;
        const w = eventWaiters.findIndex((x) => x.event === name);
        if (w >= 0) return eventWaiters.splice(w, 1)[0].resolve(args);
        events.push([name, ...args]);
      });
      return nextConnect();
    case "emit":
      return { ack: await withTimeout(new Promise((r) => socket.emit(...cmd.args, (...a) => r(a))), "ack of " + cmd.args[0]) };
    case "send":
      socket.emit(...cmd.args);
      return {};
    case "answer":
      socket.on(cmd.event, (...a) => {
        const cb = a[a.length - 1];
        if (typeof cb === "function") cb(...cmd.args);
      });
      return {};
    case "wait-event": {
      const i = events.findIndex((e) => e[0] === cmd.event);
      if (i >= 0) return { args: events.splice(i, 1)[0].slice(1) };
      const args = await withTimeout(new Promise((resolve) => eventWaiters.push({ event: cmd.event, resolve })), "event " + cmd.event);
      return { args };
    }
    case "disconnect":
      socket.disconnect();
      return {};
    case "cut": {
      const gone = withTimeout(new Promise((r) => socket.once("disconnect", r)), "disconnect");
      socket.io.engine.close();
      await gone;
      return {};
    }
    case "wait-connect":
      return nextConnect();
    case "disconnects": {
      const out = disconnects;
      disconnects = [];
      return { reasons: out };
    }
    case "events": {
      const out = events;
      events = [];
      return { events: out };
    }
    case "close":
      socket.disconnect();
      process.exit(0);
  }
  throw new Error("unknown op " + cmd.op);
}

const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.args) cmd.args = revive(cmd.args);
  queue = queue.then(() => handle(cmd)).then(answer, (e) => answer({ error: String((e && e.stack) || e) }));
});
rl.on("close", () => process.exit(0));
