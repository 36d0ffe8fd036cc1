// Tries the Admin UI's login as an attacker would, with the official
// clients, against a server instrumented by package admin
// (admin/abuse_test.go):
//   retries: wrong passwords again and again on one connection
//            (socket.io-client 4): refused, then the connection closes;
//   address: failures from one address, new connection each time: then
//            even the right password is refused, a session id is not;
//            through a trusted proxy, per X-Forwarded-For address;
//   flood:   60 logins of 990 KB on one connection (engine.io-client 6,
//            WebSocket or polling): it closes at the second, unanswered;
//   lifted:  once logged in, the connection may send large messages again.
//
// usage: node admin-abuse.js '{"url":..., "username":..., "password":...,
//                              "case":"retries"|"address"|"flood"|"lifted",
//                              "perAddress":n, "proxy":bool, "transport":"websocket"|"polling"}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const { io, Manager } = require("sio-client-v4");
const { Socket: EngineSocket } = require("eio-client-v6");
const { report, fail, step, withTimeout, once, emitAck, sleep, run } = require("./helpers");

const right = () => ({ username: cfg.username, password: cfg.password });
const wrong = () => ({ username: cfg.username, password: "wrong" });

function connect(nsp, opts = {}) {
  return io(cfg.url + nsp, Object.assign({ forceNew: true, reconnection: false, transports: ["websocket"] }, opts));
}

// outcome is how a connection attempt ends: "connected", or the refusal.
function outcome(socket) {
  return withTimeout(new Promise((resolve) => {
    socket.once("connect", () => resolve({ connected: true }));
    socket.once("connect_error", (e) => resolve({ message: e.message, data: e.data }));
  }), "connect or connect_error");
}

async function retries() {
  // One connection, the login tried again on it after each refusal, as a
  // script would (a socket of "/" keeps the Manager's connection open
  // across them): Node refuses each and keeps the connection.
  const m = new Manager(cfg.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
  // Manager sockets connect on their own (autoConnect): a second connect()
  // would send a second CONNECT.
  const root = m.socket("/");
  if (!(await outcome(root)).connected) fail("/");
  let closed = false;
  const close = new Promise((resolve) => m.once("close", (reason) => {
    closed = true;
    report.closeReason = reason;
    resolve(null);
  }));
  const adm = m.socket("/admin", { auth: wrong() });
  const messages = [];
  for (let i = 0; i < 20 && !closed; i++) {
    if (i > 0) adm.connect();
    const r = await Promise.race([outcome(adm), close]);
    if (r === null) break;
    if (r.connected) fail("a wrong password logged in");
    messages.push(r.message);
  }
  report.refusals = messages.length;
  // The last refusal and the close may come in the same read.
  await withTimeout(close, "the close");
  if (messages.some((msg) => msg !== "invalid credentials")) fail("refusals: " + JSON.stringify(messages));
  step("retries");
}

async function address() {
  // A session id, from a login before the attack.
  const first = connect("/admin", { auth: right() });
  const sid = once(first, "session");
  if (!(await outcome(first)).connected) fail("the first login failed");
  const sessionId = (await sid)[0];
  first.disconnect();
  step("session id");

  const headers = (ip) => (ip ? { extraHeaders: { "X-Forwarded-For": ip } } : {});
  const attempt = async (auth, ip) => {
    const s = connect("/admin", Object.assign({ auth }, headers(ip)));
    const r = await outcome(s);
    s.disconnect();
    return r;
  };
  const ip = cfg.proxy ? "203.0.113.7" : undefined;
  // What the UI sends as it opens, its kept session id or none, guesses
  // nothing: refused, not counted.
  for (const auth of [{}, { sessionId: "0123456789abcdef" }, {}, { sessionId: "0123456789abcdef" }, {}]) {
    const r = await attempt(auth, ip);
    if (r.message !== "invalid credentials") fail(`without credentials: ${JSON.stringify(r)}`);
  }
  for (let i = 0; i < cfg.perAddress; i++) {
    const r = await attempt(wrong(), ip);
    if (r.message !== "invalid credentials") fail(`failure ${i + 1}: ${JSON.stringify(r)}`);
  }
  step("failures");
  for (const auth of [right(), { username: "nobody", password: "x" }]) {
    const r = await attempt(auth, ip);
    if (r.message !== "too many failed logins, try again later" || !(r.data && r.data.retryAfter > 0)) {
      fail(`past the bound: ${JSON.stringify(r)}`);
    }
  }
  step("refused past the bound");
  const back = await attempt({ sessionId }, ip);
  if (!back.connected) fail("the session id was refused: " + JSON.stringify(back));
  step("session id still logs in");
  if (cfg.proxy) {
    // Another client behind the same trusted proxy is not locked out.
    const other = await attempt(right(), "203.0.113.8");
    if (!other.connected) fail("another address behind the proxy: " + JSON.stringify(other));
    step("other address");
  }
}

async function flood() {
  const socket = new EngineSocket(cfg.url, { path: "/socket.io/", transports: [cfg.transport || "websocket"] });
  await withTimeout(new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  }), "open");
  let refusals = 0;
  socket.on("message", (data) => {
    if (String(data).startsWith("4/admin,")) refusals++;
  });
  const closed = withTimeout(new Promise((resolve) => socket.once("close", resolve)), "the close");
  const login = "0/admin," + JSON.stringify({ username: cfg.username, password: "x".repeat(990000) });
  for (let i = 0; i < 60; i++) socket.send(login);
  report.closeReason = await closed;
  report.refusals = refusals;
  step("flood");
}

async function lifted() {
  // One connection: the admin namespace logged in, then the application's
  // namespace sends 100 KB, past the bound that held before the login.
  const m = new Manager(cfg.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
  const adm = m.socket("/admin", { auth: right() });
  if (!(await outcome(adm)).connected) fail("login");
  const app = m.socket("/");
  if (!(await outcome(app)).connected) fail("/");
  const big = "y".repeat(100000);
  const echo = await emitAck(app, "message", big);
  if (echo[0] !== big) fail("the echo differs");
  step("large message after the login");
  m.engine.close();
}

run(async () => {
  await { retries, address, flood, lifted }[cfg.case]();
});
