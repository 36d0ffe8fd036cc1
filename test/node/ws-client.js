// A plain WebSocket client (npm ws) against siogo's /ws, for
// cmd/siogo/main_test.go: a timestamp arrives as a decimal text message;
// text and binary messages come back as they went, an empty one too.
//
// usage: node ws-client.js '{"url":"ws://host:port/ws"}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const WebSocket = require("ws");
const { report, fail, step, withTimeout, once, run } = require("./helpers");

async function main() {
  const ws = new WebSocket(cfg.url);
  const inbox = [];
  const waiters = [];
  ws.on("message", (data, isBinary) => {
    inbox.push({ data: Buffer.from(data), isBinary });
    const w = waiters.shift();
    if (w) w();
  });
  const next = async () => {
    if (!inbox.length) await withTimeout(new Promise((r) => waiters.push(r)), "a message");
    return inbox.shift();
  };
  await once(ws, "open");
  const tick = await next();
  const ms = Number(tick.data.toString());
  if (tick.isBinary || !Number.isInteger(ms) || Math.abs(ms - Date.now()) > 60000) fail(`timestamp ${tick.data}`);
  report.timestamp = ms;
  step("timestamp");
  const skipTicks = async () => {
    for (;;) {
      const m = await next();
      if (m.isBinary || !/^\d+$/.test(m.data.toString())) return m;
    }
  };
  ws.send("hello /ws");
  const text = await skipTicks();
  if (text.isBinary || text.data.toString() !== "hello /ws") fail(`text echo ${text.data}`);
  step("text");
  ws.send("");
  ws.send("after empty");
  const empty = await skipTicks();
  if (empty.isBinary || empty.data.length !== 0) fail(`empty text echo ${empty.data}`);
  const after = await skipTicks();
  if (after.data.toString() !== "after empty") fail(`after the empty message: ${after.data}`);
  step("empty");
  const bin = Buffer.from([0, 1, 2, 255]);
  ws.send(bin);
  const b = await skipTicks();
  if (!b.isBinary || !b.data.equals(bin)) fail(`binary echo ${b.data.toString("hex")}`);
  step("binary");
  ws.close();
}

run(main);
