// A socket.io-client 4 socket that a Go test steers, for connection state
// recovery across nodes (adapters/redisstreams): one JSON command a line
// on stdin, one JSON answer a line on stdout.
//
//   {"op":"connect","url":...,"auth":{...}}  -> {"id":..,"recovered":..,"pid":..}
//                                  (auth optional: {"pid","offset"} presents a session, as a
//                                  reconnecting client does)
//   {"op":"emit","args":[...]}  -> {"ack":[...]}   (the args of the ack)
//   {"op":"cut"}                -> {}  once the connection is gone; the client reconnects by itself
//   {"op":"wait-connect"}       -> {"id":..,"recovered":..,"pid":..} of the next connection
//   {"op":"disconnects"}        -> {"reasons":[...]} the disconnect reasons since the last call
//   {"op":"events"}             -> {"events":[[name, ...args], ...]} received since the last call
//   {"op":"close"}              -> exits
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
        if (name !== "timestamp") events.push([name, ...args]);
      });
      return nextConnect();
    case "emit":
      return { ack: await withTimeout(new Promise((r) => socket.emit(...cmd.args, (...a) => r(a))), "ack of " + cmd.args[0]) };
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
  queue = queue.then(() => handle(JSON.parse(line))).then(answer, (e) => answer({ error: String((e && e.stack) || e) }));
});
rl.on("close", () => process.exit(0));
