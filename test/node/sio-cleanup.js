// Drives the official socket.io-client 4 against dynamic namespaces of a
// server with CleanupEmptyChildNamespaces (server/cleanup_test.go): each
// child namespace goes once empty (last socket gone, or the only client
// refused), with its series; one that a client is joining stays; a client
// that comes back gets a new one. A control socket on "/" reads the
// server's state ("state": its namespaces and the observer's series).
//
// usage: node sio-cleanup.js '{"url":..., "transport":"websocket"|"polling", "cleanup":true|false,
//                              "short":true (optional: the twenty names and the refusal only)}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const { io } = require("sio-client-v4");
const { report, fail, step, withTimeout, once, emitAck, sleep, run } = require("./helpers");

function connect(nsp, auth) {
  return io(cfg.url + nsp, { transports: [cfg.transport], forceNew: true, reconnection: false, auth });
}

function connected(socket) {
  if (socket.connected) return Promise.resolve(socket);
  return withTimeout(new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (e) => reject(e));
  }), "connect");
}

function refused(socket) {
  return withTimeout(new Promise((resolve, reject) => {
    socket.once("connect", () => reject(new Error("connected, want refused")));
    socket.once("connect_error", (e) => resolve(e.message));
  }), "connect_error");
}

let ctl;

// state is the server's: {namespaces: [...], series: {nsp: sockets}}.
async function state() {
  return (await emitAck(ctl, "state"))[0];
}

// until waits for the server's state to satisfy cond, reading it again
// until it does (the server removes a namespace after the client's
// disconnect, which the client does not wait for).
async function until(what, cond) {
  const deadline = Date.now() + 8000;
  for (;;) {
    const st = await state();
    if (cond(st)) return st;
    if (Date.now() > deadline) fail(`timed out waiting for ${what}: ${JSON.stringify(st)}`);
    await sleep(20);
  }
}

const has = (st, nsp) => st.namespaces.includes(nsp);
const series = (st, nsp) => (nsp in st.series ? st.series[nsp] : null);
const gone = (nsp) => (st) => !has(st, nsp) && series(st, nsp) === null;

async function main() {
  ctl = await connected(connect("/"));

  if (!cfg.cleanup) {
    // Node's default: the namespace stays, empty.
    const s = await connected(connect("/dyn-1"));
    s.disconnect();
    await until("the socket's disconnection", (st) => series(st, "/dyn-1") === 0);
    if (!has(await state(), "/dyn-1")) fail("the namespace went without CleanupEmptyChildNamespaces");
    step("kept");
    ctl.disconnect();
    return;
  }

  // Twenty names tried: twenty namespaces, gone with their last socket.
  const names = Array.from({ length: 20 }, (_, i) => "/dyn-" + (i + 1));
  const sockets = await Promise.all(names.map((n) => connected(connect(n))));
  let st = await state();
  for (const n of names) if (!has(st, n) || series(st, n) !== 1) fail(`${n} while connected: ${JSON.stringify(st)}`);
  for (const s of sockets) s.disconnect();
  await until("the twenty namespaces to go", (st) => names.every((n) => gone(n)(st)));
  step("emptied");

  // A client refused by the middleware leaves no namespace behind.
  if ((await refused(connect("/dyn-50", { token: "bad" }))) !== "Not authorized") fail("refusal");
  await until("the refused client's namespace to go", gone("/dyn-50"));
  step("refused");
  if (cfg.short) {
    ctl.disconnect();
    return;
  }

  // It stays while a socket is left.
  const a = await connected(connect("/dyn-60"));
  const b = await connected(connect("/dyn-60"));
  a.disconnect();
  st = await until("a's disconnection", (st) => series(st, "/dyn-60") === 1);
  if (!has(st, "/dyn-60")) fail("removed with a socket left");
  b.disconnect();
  await until("/dyn-60 to go", gone("/dyn-60"));
  step("last socket");

  // A client joining (its middleware running) when the last socket leaves
  // keeps the namespace: it joins the one that broadcasts reach.
  const c = await connected(connect("/dyn-70"));
  const d = connect("/dyn-70", { hold: true });
  await emitAck(ctl, "await-hold");
  c.disconnect();
  st = await until("c's disconnection", (st) => series(st, "/dyn-70") === 0);
  if (!has(st, "/dyn-70")) fail("removed while a client was joining");
  await emitAck(ctl, "release");
  await connected(d);
  const hello = once(d, "hello");
  await emitAck(ctl, "emit", "/dyn-70", "hello");
  await hello;
  st = await state();
  if (!has(st, "/dyn-70") || series(st, "/dyn-70") !== 1) fail("after the join: " + JSON.stringify(st));
  d.disconnect();
  await until("/dyn-70 to go", gone("/dyn-70"));
  step("joining");

  // A client that comes back gets the namespace anew.
  const e = await connected(connect("/dyn-1"));
  if ((await emitAck(e, "whoami"))[0] !== "/dyn-1") fail("whoami");
  e.disconnect();
  await until("/dyn-1 to go again", gone("/dyn-1"));
  step("again");

  // Server.Of with a name the expression matches makes a child, under
  // the parent's middleware (as Node's io.of).
  await emitAck(ctl, "of", "/dyn-80");
  if (!has(await state(), "/dyn-80")) fail("Of did not create /dyn-80");
  if ((await refused(connect("/dyn-80", { token: "bad" }))) !== "Not authorized") fail("Of's child skipped the middleware");
  await until("/dyn-80 to go", gone("/dyn-80"));
  step("of");

  ctl.disconnect();
}

run(main);
