// What the client drivers share: a report printed as one JSON line, and
// waits that fail instead of hanging.
"use strict";

const STEP_TIMEOUT = 8000;

const report = { ok: false, steps: [] };

function fail(msg) {
  report.error = msg;
  console.log(JSON.stringify(report));
  process.exit(1);
}

function done() {
  report.ok = true;
  console.log(JSON.stringify(report));
  process.exit(0);
}

function step(name) {
  report.steps.push(name);
}

function withTimeout(promise, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error("timed out waiting for " + what)), STEP_TIMEOUT);
    }),
  ]);
}

function once(emitter, event) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...a) => resolve(a))), event);
}

function emitAck(socket, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(...args, (...r) => resolve(r))), "ack of " + args[0]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// run runs main and reports an exception as the failure.
function run(main) {
  main().then(done, (e) => fail(String((e && e.stack) || e)));
}

module.exports = { report, fail, step, withTimeout, once, emitAck, sleep, run };
