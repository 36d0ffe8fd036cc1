// The siogo demo page: connects with socket.io-client 4 (WebSocket, or
// forced long-polling), or in legacy mode with socket.io-client 2 over JSONP.
"use strict";

const io4 = window.io;
let io2 = null;
let socket = null;

const $ = (id) => document.getElementById(id);
const els = {
  connect: $("connect"), close: $("close"), send: $("send"), message: $("message"), form: $("send-form"),
  log: $("log"), status: $("status"), transport: $("transport"), upgraded: $("upgraded"), client: $("client"),
  pollingOnly: $("polling-only"), legacy: $("legacy"),
};

function log(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  const span = document.createElement("span");
  span.textContent = text;
  li.append(time, " ", span);
  els.log.prepend(li);
  while (els.log.children.length > 200) els.log.lastChild.remove();
}

function setState(status) {
  els.status.textContent = status;
  const open = socket !== null;
  els.connect.disabled = open;
  els.close.disabled = !open;
  els.message.disabled = status !== "connected";
  els.send.disabled = status !== "connected";
  els.pollingOnly.disabled = open;
  els.legacy.disabled = open;
}

function showTransport() {
  const engine = socket && socket.io && socket.io.engine;
  els.transport.textContent = engine && engine.transport ? engine.transport.name : "none";
}

// The v2 bundle also defines window.io: load it once, keep it apart.
function loadLegacyClient() {
  if (io2) return Promise.resolve(io2);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/socket.io-client-2/socket.io.js";
    script.onload = () => {
      io2 = window.io;
      window.io = io4;
      resolve(io2);
    };
    script.onerror = () => reject(new Error("could not load the socket.io-client 2 bundle"));
    document.head.append(script);
  });
}

function describe(args) {
  return args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ");
}

async function connect() {
  if (socket) return;
  const legacy = els.legacy.checked;
  let client;
  if (legacy) {
    const io = await loadLegacyClient();
    socket = io({ transports: ["polling"], forceJSONP: true, forceNew: true });
    client = "socket.io-client 2 (JSONP)";
  } else {
    const transports = els.pollingOnly.checked ? ["polling"] : ["polling", "websocket"];
    socket = io4({ transports, forceNew: true });
    client = "socket.io-client 4";
  }
  els.client.textContent = client;
  els.upgraded.textContent = "no";
  setState("connecting");
  const s = socket;
  // The upgrade can complete before "connect" fires (socket.io-client 4
  // defers its packets by a tick, the engine's upgrade event does not), so
  // the listener goes on each new engine as it opens, once per engine.
  s.io.on("open", () => {
    s.io.engine.on("upgrade", (t) => {
      els.upgraded.textContent = "yes, to " + t.name;
      showTransport();
      log("info", "upgraded to " + t.name);
    });
  });
  s.on("connect", () => {
    setState("connected");
    showTransport();
    log("info", "connected as " + s.id + " over " + els.transport.textContent);
  });
  s.on("timestamp", (ms) => log("timestamp", "timestamp " + new Date(ms).toISOString()));
  s.on("message", (...args) => log("echo", "echo: " + describe(args)));
  s.on("broadcast", (...args) => log("broadcast", "broadcast: " + describe(args)));
  s.on("connect_error", (err) => log("error", "connection error: " + (err && err.message ? err.message : err)));
  s.on("disconnect", (reason) => {
    log("info", "disconnected: " + reason);
    if (socket === s && reason === "io client disconnect") return;
    setState("disconnected");
  });
}

function close() {
  if (!socket) return;
  socket.close();
  socket = null;
  els.transport.textContent = "none";
  setState("closed");
}

els.connect.addEventListener("click", () => connect().catch((e) => log("error", e.message)));
els.close.addEventListener("click", close);
els.form.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = els.message.value;
  if (!socket || text === "") return;
  socket.emit("message", text);
  log("sent", "sent: " + text);
  els.message.value = "";
  els.message.focus();
});
setState("closed");
