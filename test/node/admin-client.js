// Drives the Admin UI's protocol with the official socket.io-client 4
// against a server instrumented by package admin (admin/admin_test.go):
// the login refused and accepted, the session id, config, server_stats,
// every socket and its events, and each of the UI's commands.
//
// usage: node admin-client.js '{"url":..., "username":..., "password":...,
//                               "case":"full"|"readonly"|"production"|"noauth",
//                               "features":[...], "serverIds":[...] (optional)}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const { io } = require("sio-client-v4");
const { report, fail, step, withTimeout, once, emitAck, sleep, run } = require("./helpers");

function connect(nsp, opts = {}) {
  return io(cfg.url + nsp, Object.assign({ forceNew: true, reconnection: false }, opts));
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

// Recorder keeps every event an admin socket receives, from its creation,
// and waits for one that matches.
function record(socket) {
  const seen = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    seen.push({ event, args });
    for (const w of waiters.slice()) {
      if (w.event === event && w.match(...args)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(args);
      }
    }
  });
  return {
    seen,
    wait(event, match = () => true, what = event) {
      const hit = seen.find((e) => e.event === event && match(...e.args));
      if (hit) return Promise.resolve(hit.args);
      return withTimeout(new Promise((resolve) => waiters.push({ event, match, resolve })), what);
    },
    count(event) {
      return seen.filter((e) => e.event === event).length;
    },
  };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function expect(cond, msg) {
  if (!cond) fail(msg);
}

function checkStats(st) {
  for (const k of ["serverId", "hostname", "pid", "uptime", "clientsCount", "pollingClientsCount", "namespaces", "aggregatedEvents"]) {
    expect(k in st, "server_stats lacks " + k + ": " + JSON.stringify(st));
  }
  expect(typeof st.serverId === "string" && typeof st.hostname === "string", "server_stats ids " + JSON.stringify(st));
  expect(Number.isInteger(st.pid) && typeof st.uptime === "number", "server_stats pid/uptime " + JSON.stringify(st));
  expect(Number.isInteger(st.clientsCount) && Number.isInteger(st.pollingClientsCount), "server_stats counts " + JSON.stringify(st));
  expect(Array.isArray(st.namespaces) && st.namespaces.every((n) => typeof n.name === "string" && Number.isInteger(n.socketsCount)),
    "server_stats namespaces " + JSON.stringify(st.namespaces));
  expect(Array.isArray(st.aggregatedEvents) && st.aggregatedEvents.every((e) =>
    Number.isInteger(e.timestamp) && typeof e.type === "string" && Number.isInteger(e.count)),
  "server_stats aggregatedEvents " + JSON.stringify(st.aggregatedEvents));
}

function checkSerialized(s, c, nsp) {
  const keys = ["id", "clientId", "transport", "nsp", "data", "handshake", "rooms"];
  for (const k of keys) expect(k in s, "socket lacks " + k + ": " + JSON.stringify(s));
  expect(s.id === c.id, "socket id " + s.id + " want " + c.id);
  expect(s.clientId === c.io.engine.id.slice(0, 12), "clientId " + s.clientId + " want " + c.io.engine.id.slice(0, 12));
  expect(s.nsp === nsp, "nsp " + s.nsp);
  expect(s.data && typeof s.data === "object" && !("_admin" in s.data), "data " + JSON.stringify(s.data));
  const h = s.handshake;
  for (const k of ["address", "headers", "query", "issued", "secure", "time", "url", "xdomain"]) {
    expect(k in h, "handshake lacks " + k + ": " + JSON.stringify(h));
  }
  expect(!("auth" in h), "handshake shows auth");
  expect(Number.isInteger(h.issued) && Math.abs(Date.now() - h.issued) < 60000, "issued " + h.issued);
  expect(typeof h.time === "string" && !Number.isNaN(Date.parse(h.time)), "time " + h.time);
  expect(typeof h.headers.host === "string", "headers " + JSON.stringify(h.headers));
  expect(h.query.EIO === "4" && h.query.foo === "bar", "query " + JSON.stringify(h.query));
  expect(h.url.startsWith("/socket.io/?"), "url " + h.url);
  expect(h.address === "127.0.0.1" || h.address === "::1" || h.address === "::ffff:127.0.0.1", "address " + h.address);
  expect(h.secure === false && h.xdomain === false, "secure/xdomain " + JSON.stringify(h));
  expect(Array.isArray(s.rooms) && s.rooms.includes(c.id), "rooms " + JSON.stringify(s.rooms));
}

const login = () => ({ auth: { username: cfg.username, password: cfg.password } });

async function full() {
  // Refusals.
  expect(await refused(connect("/admin", { auth: { username: cfg.username, password: "wrong" } })) === "invalid credentials",
    "wrong password not refused with invalid credentials");
  expect(await refused(connect("/admin", { auth: { username: "nobody", password: cfg.password } })) === "invalid credentials",
    "wrong user not refused");
  expect(await refused(connect("/admin")) === "invalid credentials", "no auth not refused");
  expect(await refused(connect("/admin", { auth: { sessionId: "0123456789abcdef" } })) === "invalid credentials",
    "unknown session id not refused");
  step("refused");

  const adm = connect("/admin", login());
  const rec = record(adm);
  await connected(adm);
  const [sessionId] = await rec.wait("session");
  expect(/^[0-9a-f]{16}$/.test(sessionId), "session id " + sessionId);
  const [config] = await rec.wait("config");
  expect(JSON.stringify(config) === JSON.stringify({ supportedFeatures: cfg.features }), "config " + JSON.stringify(config));
  const [all] = await rec.wait("all_sockets");
  expect(Array.isArray(all) && all.some((s) => s.id === adm.id && s.nsp === "/admin"), "all_sockets " + JSON.stringify(all));
  step("logged in");

  const [st] = await rec.wait("server_stats");
  checkStats(st);
  expect(st.namespaces.some((n) => n.name === "/admin" && n.socketsCount >= 1), "namespaces " + JSON.stringify(st.namespaces));
  step("server_stats");

  // A client of the application: its socket, upgrade, rooms, events.
  const c = connect("/", { query: { foo: "bar" } });
  await connected(c);
  const [sc, ts] = await rec.wait("socket_connected", (s) => s.id === c.id, "socket_connected");
  checkSerialized(sc, c, "/");
  expect(sc.transport === "polling", "transport at connection " + sc.transport);
  expect(ISO.test(ts), "timestamp " + ts);
  step("socket_connected");
  const [up] = await rec.wait("socket_updated", (u) => u.id === c.id && u.transport === "websocket", "socket_updated");
  expect(up.nsp === "/", "socket_updated " + JSON.stringify(up));
  step("socket_updated");

  c.emit("set-data", "alice");
  await rec.wait("socket_updated", (u) => u.id === c.id && u.nsp === "/" && JSON.stringify(u.data) === '{"name":"alice"}',
    "socket_updated with data");
  step("socket_updated data");

  await emitAck(c, "join", "r1");
  const joined = await rec.wait("room_joined", (n, room, id) => n === "/" && room === "r1" && id === c.id, "room_joined");
  expect(ISO.test(joined[3]), "room_joined timestamp " + joined[3]);
  step("room_joined");

  c.emit("message", "hi", 7);
  await rec.wait("event_received", (n, id, args) => n === "/" && id === c.id && JSON.stringify(args) === '["message","hi",7]', "event_received");
  await rec.wait("event_sent", (n, id, args) => n === "/" && id === c.id && JSON.stringify(args) === '["message","hi",7]', "event_sent");
  step("events");

  // The commands, for one socket (filter: its id) and for all.
  const hello = once(c, "hello");
  adm.emit("emit", "/", c.id, "hello", 1, { a: 2 });
  const got = await hello;
  expect(JSON.stringify(got) === '[1,{"a":2}]', "emit delivered " + JSON.stringify(got));
  const everyone = once(c, "everyone");
  adm.emit("emit", "/", undefined, "everyone");
  await everyone;
  step("emit");

  adm.emit("join", "/", "r2", c.id);
  await rec.wait("room_joined", (n, room, id) => room === "r2" && id === c.id, "join command");
  adm.emit("join", "/", "all");
  await rec.wait("room_joined", (n, room, id) => room === "all" && id === c.id, "mjoin command");
  step("join");
  adm.emit("leave", "/", "r2", c.id);
  await rec.wait("room_left", (n, room, id) => room === "r2" && id === c.id, "leave command");
  adm.emit("leave", "/", "all", "r1");
  await rec.wait("room_left", (n, room, id) => room === "all" && id === c.id, "leave by room");
  step("leave");

  // The client forgets its id once disconnected.
  const cid = c.id;
  const gone = once(c, "disconnect");
  adm.emit("_disconnect", "/", false, cid);
  const [reason] = await gone;
  expect(reason === "io server disconnect", "client saw " + reason);
  const [, , why, dts] = await rec.wait("socket_disconnected", (n, id) => n === "/" && id === cid, "socket_disconnected");
  expect(why === "server namespace disconnect" && ISO.test(dts), "socket_disconnected " + why + " " + dts);
  await rec.wait("room_left", (n, room, id) => room === "r1" && id === cid, "rooms left on disconnect");
  step("disconnect");

  // Disconnect with close, by room: the whole connection goes.
  const c2 = connect("/", { transports: ["websocket"] });
  await connected(c2);
  await emitAck(c2, "join", "doomed");
  const gone2 = once(c2, "disconnect");
  adm.emit("_disconnect", "/", true, "doomed");
  await gone2;
  step("mdisconnect");

  // The aggregated events, over the stats that came meanwhile.
  await sleep(cfg.statsMs * 2 + 100);
  const types = new Set();
  for (const e of rec.seen.filter((e) => e.event === "server_stats")) {
    checkStats(e.args[0]);
    for (const a of e.args[0].aggregatedEvents) types.add(a.type + (a.subType ? ":" + a.subType : ""));
  }
  for (const want of ["rawConnection", "packetsIn", "packetsOut", "bytesIn", "bytesOut"]) {
    expect(types.has(want), "aggregatedEvents lack " + want + ": " + [...types].join(","));
  }
  expect([...types].some((t) => t.startsWith("rawDisconnection:")), "no rawDisconnection with a reason: " + [...types].join(","));
  report.aggregated = [...types].sort();
  step("aggregated events");

  // The session id logs in again without the password.
  const again = connect("/admin", { auth: { sessionId } });
  await connected(again);
  again.close();
  step("session");
  adm.close();
}

async function readonly() {
  const adm = connect("/admin", login());
  const rec = record(adm);
  await connected(adm);
  const [config] = await rec.wait("config");
  expect(JSON.stringify(config.supportedFeatures) === JSON.stringify(cfg.features), "config " + JSON.stringify(config));
  const c = connect("/");
  await connected(c);
  await rec.wait("socket_connected", (s) => s.id === c.id);
  adm.emit("_disconnect", "/", false, c.id);
  adm.emit("join", "/", "nope", c.id);
  await sleep(300);
  expect(c.connected, "read-only admin disconnected a socket");
  const [echo] = await emitAck(c, "message", "still here");
  expect(echo === "still here", "echo " + echo);
  expect(!rec.seen.some((e) => e.event === "room_joined" && e.args[1] === "nope"), "read-only admin joined a room");
  step("readonly");
  c.close();
  adm.close();
}

async function production() {
  const adm = connect("/admin", login());
  const rec = record(adm);
  await connected(adm);
  const [config] = await rec.wait("config");
  expect(JSON.stringify(config.supportedFeatures) === JSON.stringify(cfg.features), "config " + JSON.stringify(config));
  const [st] = await rec.wait("server_stats");
  checkStats(st);
  const c = connect("/");
  await connected(c);
  await sleep(cfg.statsMs + 200);
  for (const ev of ["all_sockets", "socket_connected", "room_joined"]) {
    expect(rec.count(ev) === 0, "production mode sent " + ev);
  }
  step("production");
  c.close();
  adm.close();
}

async function noauth() {
  const adm = connect("/admin");
  const rec = record(adm);
  await connected(adm);
  await rec.wait("config");
  await rec.wait("all_sockets");
  expect(rec.count("session") === 0, "a session id without authentication");
  step("noauth");
  adm.close();
}

// cluster: one admin on the first node sees both nodes' stats and the
// sockets of both, and its commands reach a socket of the other node.
async function cluster() {
  const c = io(cfg.url2 + "/", { forceNew: true, reconnection: false, transports: ["websocket"] });
  await connected(c);
  await emitAck(c, "join", "far");
  const adm = connect("/admin", login());
  const rec = record(adm);
  await connected(adm);
  const [all] = await rec.wait("all_sockets");
  const remote = all.find((s) => s.id === c.id);
  expect(remote, "all_sockets lacks the other node's socket: " + JSON.stringify(all.map((s) => s.id)));
  expect(remote.rooms.includes("far") && remote.clientId === c.io.engine.id.slice(0, 12) && remote.transport === "websocket",
    "remote socket " + JSON.stringify(remote));
  expect(Number.isInteger(remote.handshake.issued) && typeof remote.handshake.headers === "object", "remote handshake " + JSON.stringify(remote.handshake));
  step("remote sockets");
  for (const id of cfg.serverIds) {
    await rec.wait("server_stats", (st) => st.serverId === id, "server_stats of " + id);
  }
  step("stats of every node");
  // Events of the other node's socket reach this node's admin.
  c.emit("message", "far away");
  await rec.wait("event_received", (n, id, args) => id === c.id && args[1] === "far away", "remote event_received");
  step("remote events");
  const hello = once(c, "hello");
  adm.emit("emit", "/", c.id, "hello", "across");
  await hello;
  adm.emit("join", "/", "joined-from-afar", c.id);
  await rec.wait("room_joined", (n, room, id) => room === "joined-from-afar" && id === c.id, "remote join");
  const cid = c.id;
  const gone = once(c, "disconnect");
  adm.emit("_disconnect", "/", false, cid);
  const [reason] = await gone;
  expect(reason === "io server disconnect", "remote client saw " + reason);
  await rec.wait("socket_disconnected", (n, id) => id === cid, "remote socket_disconnected");
  step("remote commands");
  // The session id given by the first node logs in on the second (a
  // shared store).
  const [sessionId] = await rec.wait("session");
  const onB = io(cfg.url2 + "/admin", { forceNew: true, reconnection: false, auth: { sessionId } });
  await connected(onB);
  onB.close();
  step("shared session");
  adm.close();
}

// interop: a siogo node and a Node.js node (with Node's own admin) in one
// cluster; each admin sees the other node's stats and sockets, with their
// client ids and transports, and steers a socket of the other node.
async function interop() {
  const onGo = await connected(io(cfg.url + "/", { forceNew: true, reconnection: false, transports: ["websocket"] }));
  await emitAck(onGo, "join", "go-room");
  const onNode = await connected(io(cfg.nodeUrl + "/", { forceNew: true, reconnection: false, transports: ["websocket"] }));
  await emitAck(onNode, "join", "node-room");
  report.disconnects = [];
  onGo.on("disconnect", (r) => report.disconnects.push("siogo client: " + r));
  onNode.on("disconnect", (r) => report.disconnects.push("node client: " + r));
  const admins = { siogo: connect("/admin"), node: io(cfg.nodeUrl + "/admin", { forceNew: true, reconnection: false }) };
  const recs = { siogo: record(admins.siogo), node: record(admins.node) };
  for (const [name, adm] of Object.entries(admins)) {
    const rec = recs[name];
    await connected(adm);
    const [all] = await rec.wait("all_sockets", () => true, name + " all_sockets");
    for (const [c, room] of [[onGo, "go-room"], [onNode, "node-room"]]) {
      const s = all.find((x) => x.id === c.id);
      expect(s, name + "'s all_sockets lacks " + c.id + ": " + JSON.stringify(all.map((x) => x.id)) + "; " + report.disconnects);
      expect(s.clientId === c.io.engine.id.slice(0, 12) && s.transport === "websocket" && s.rooms.includes(room) &&
        Number.isInteger(s.handshake.issued) && !("_admin" in s.data), name + " sees " + JSON.stringify(s));
    }
    for (const id of cfg.serverIds) {
      const [st] = await rec.wait("server_stats", (st) => st.serverId === id, name + " sees the stats of " + id);
      checkStats(st);
    }
    step(name + " admin sees both nodes");
  }
  // Node's admin disconnects the siogo node's socket, siogo's the Node one's.
  for (const [adm, c] of [[admins.node, onGo], [admins.siogo, onNode]]) {
    const gone = once(c, "disconnect");
    adm.emit("_disconnect", "/", false, c.id);
    const [reason] = await gone;
    expect(reason === "io server disconnect", "disconnected with " + reason);
  }
  step("each steers the other's socket");
  for (const adm of Object.values(admins)) adm.close();
}

run({ full, readonly, production, noauth, cluster, interop }[cfg.case]);
