// Drives the demo page in Debian's headless Chromium with playwright-core,
// for cmd/siogo/browser_test.go: connect, timestamps, Send and its echo,
// the live transport, Close; a screenshot of the mode.
//
// usage: node browser.js '{"url":..., "mode":"websocket"|"polling"|"legacy", "screenshot":path}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const fs = require("fs");
const { chromium } = require("playwright-core");
const { report, fail, step, withTimeout, run } = require("./helpers");

const CHROMIUM = "/usr/bin/chromium";

async function main() {
  if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    const t0 = Date.now();
    const trace = (m) => process.stderr.write(`${Date.now() - t0} ${m}\n`);
    page.on("request", (r) => trace("req " + r.method() + " " + r.url()));
    page.on("requestfinished", (r) => trace("fin " + r.method() + " " + r.url()));
    page.on("requestfailed", (r) => trace("failed " + r.url()));
    page.on("websocket", (ws) => { trace("ws open " + ws.url()); ws.on("framesent", (f) => trace("ws> " + f.payload)); ws.on("framereceived", (f) => trace("ws< " + f.payload)); ws.on("close", () => trace("ws close")); ws.on("socketerror", (e) => trace("ws err " + e)); });
    await page.goto(cfg.url);
    if (cfg.mode === "polling") await page.check("#polling-only");
    if (cfg.mode === "legacy") await page.check("#legacy");
    await page.click("#connect");
    await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, { timeout: 10000 });
    step("connected");

    const want = cfg.mode === "websocket" ? "websocket" : "polling";
    if (cfg.mode === "websocket") {
      await page.waitForFunction(() => document.getElementById("upgraded").textContent.startsWith("yes"), null, { timeout: 10000 });
    }
    const transport = await page.textContent("#transport");
    if (transport !== want) fail(`transport ${transport}, want ${want}`);
    report.transport = transport;
    report.upgraded = await page.textContent("#upgraded");
    step("transport");

    await page.waitForSelector("#log li.timestamp", { timeout: 10000 });
    await page.waitForFunction(() => document.querySelectorAll("#log li.timestamp").length >= 2, null, { timeout: 10000 });
    step("timestamps");

    await page.fill("#message", "hello from " + cfg.mode);
    await page.press("#message", "Enter");
    await page.waitForFunction(
      (m) => [...document.querySelectorAll("#log li.echo")].some((li) => li.textContent.includes(m)),
      "echo: hello from " + cfg.mode, { timeout: 10000 });
    step("echo");

    if (cfg.mode === "legacy") {
      const jsonp = requests.filter((u) => u.includes("/socket.io/") && /[?&]j=\d/.test(u));
      if (jsonp.length === 0) fail("legacy mode made no JSONP request: " + requests.filter((u) => u.includes("/socket.io/?")).join(" "));
      if (!requests.some((u) => u.includes("EIO=3"))) fail("legacy mode did not speak Engine.IO 3");
      step("jsonp");
    }
    await page.screenshot({ path: cfg.screenshot, fullPage: true });

    await page.click("#close");
    await withTimeout(
      page.waitForFunction(() => document.getElementById("status").textContent === "closed", null, { timeout: 5000 }),
      "close");
    step("closed");
    if (errors.length) fail("page errors: " + errors.join("; "));
  } finally {
    await browser.close();
  }
}

run(main);
