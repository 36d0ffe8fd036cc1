// Drives the official Admin UI (npm @socket.io/admin-ui, served by siogo
// at /admin/) in Debian's headless Chromium, for cmd/siogo's
// TestAdminUIBrowser: demo pages connect and join rooms; the UI logs in,
// lists their sockets and rooms (and every node of a cluster), and
// disconnects one of them, which its page then shows. Screenshots.
//
// With "lockout" (a server that locks an address out after one failed
// login), it stops after the login form shows the lockout, right password
// and all (TestAdminUILockout).
//
// usage: node admin-ui.js '{"adminUrl":..., "demoUrls":[...], "username":..., "password":...,
//                           "serverIds":[...], "shots":"dir/prefix-", "lockout":true (optional)}'
"use strict";

const cfg = JSON.parse(process.argv[2]);
const fs = require("fs");
const { chromium } = require("playwright-core");
const { report, fail, step, run } = require("./helpers");

const CHROMIUM = "/usr/bin/chromium";
const T = { timeout: 15000 };

// open shows a page of the UI, once the transition from the last one ended
// (both are in the document meanwhile).
async function open(ui, url) {
  await ui.goto(url);
  await settled(ui);
}

// settled waits until the UI shows one page: during a transition the
// leaving page stays in the document, hidden, until it ends; the locators
// below only look at what is visible.
async function settled(ui) {
  await ui.waitForTimeout(300);
  await ui.waitForFunction(() => [...document.querySelectorAll("main.v-main .v-main__wrap > .container > *")]
    .filter((e) => getComputedStyle(e).display !== "none").length === 1, null, T);
}

// shot waits for the UI's page transition to end, then takes a picture.
async function shot(page, path) {
  await settled(page);
  await page.waitForTimeout(300);
  await page.screenshot({ path, fullPage: true });
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // The UI's page links fonts and icons from CDNs: no network here.
    await ctx.route("**/*", (route) => {
      const u = new URL(route.request().url());
      return u.hostname === "127.0.0.1" || u.hostname === "localhost" ? route.continue() : route.abort();
    });
    const errors = [];

    // Demo pages: each connects and joins a room of its own.
    const demos = [];
    for (const [i, url] of cfg.demoUrls.entries()) {
      const page = await ctx.newPage();
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(url);
      await page.click("#connect");
      await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, T);
      const room = "room-" + i;
      await page.evaluate((r) => new Promise((resolve) => socket.emit("join", r, resolve)), room);
      const id = await page.evaluate(() => socket.id);
      demos.push({ page, id, room });
    }
    report.sockets = demos.map((d) => d.id);
    step("demo clients");

    const ui = await ctx.newPage();
    ui.on("pageerror", (e) => errors.push(String(e)));
    await ui.goto(cfg.adminUrl);
    const server = ui.getByLabel("Server URL");
    await server.waitFor(T);
    const prefilled = await server.inputValue();
    if (prefilled !== new URL(cfg.adminUrl).origin) fail("server URL not filled in: " + JSON.stringify(prefilled));
    // A wrong password first: the form says so and stays.
    await ui.getByLabel("Username").fill(cfg.username);
    await ui.getByLabel("Password").fill("wrong");
    await ui.getByRole("button", { name: "Connect" }).click();
    await ui.getByText("Invalid credentials").waitFor(T);
    step("refused");
    if (cfg.lockout) {
      // The UI shows any other refusal as "Error: <message>" in its form.
      await ui.getByLabel("Password").fill(cfg.password);
      await ui.getByRole("button", { name: "Connect" }).click();
      await ui.getByText("too many failed logins, try again later").waitFor(T);
      await ui.getByLabel("Password").waitFor(T);
      await shot(ui, cfg.shots + "lockout.png");
      step("locked out");
      if (errors.length) fail("page errors: " + errors.join("; "));
      return;
    }
    await ui.getByLabel("Password").fill(cfg.password);
    await ui.getByRole("button", { name: "Connect" }).click();
    await ui.getByLabel("Password").waitFor({ state: "hidden", timeout: 15000 });
    step("logged in");

    await open(ui, cfg.adminUrl + "#/servers/");
    for (const id of cfg.serverIds) await ui.locator("tbody tr:visible", { hasText: id }).first().waitFor(T);
    report.servers = await ui.$$eval("tbody tr", (rows) => rows.map((r) => r.textContent.trim()));
    await shot(ui, cfg.shots + "servers.png");
    step("servers");

    await open(ui, cfg.adminUrl + "#/sockets/");
    for (const d of demos) await ui.locator("tbody tr:visible", { hasText: d.id }).waitFor(T);
    await shot(ui, cfg.shots + "sockets.png");
    step("sockets");

    // A socket's page reads the handshake (issued, headers, query).
    await ui.locator("tbody tr:visible", { hasText: demos[0].id }).locator("td").first().click();
    await ui.getByText("Creation date").waitFor(T);
    await settled(ui);
    await ui.waitForFunction(() => /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(document.body.textContent) &&
      document.body.textContent.includes("user-agent") && document.body.textContent.includes("EIO"), null, T);
    await shot(ui, cfg.shots + "socket.png");
    step("socket details");

    await open(ui, cfg.adminUrl + "#/rooms/");
    for (const d of demos) await ui.locator("tbody tr:visible", { hasText: d.room }).waitFor(T);
    await shot(ui, cfg.shots + "rooms.png");
    step("rooms");

    await open(ui, cfg.adminUrl + "#/");
    await shot(ui, cfg.shots + "dashboard.png");

    // Disconnect the last demo client (on the last node) from the UI.
    const victim = demos[demos.length - 1];
    await open(ui, cfg.adminUrl + "#/sockets/");
    const row = ui.locator("tbody tr:visible", { hasText: victim.id });
    await row.locator("button").first().click();
    await victim.page.waitForFunction(() => document.getElementById("status").textContent === "disconnected", null, T);
    const log = await victim.page.textContent("#log");
    if (!log.includes("io server disconnect")) fail("demo page log: " + log.slice(0, 300));
    await open(ui, cfg.adminUrl + "#/sockets/");
    await row.waitFor({ state: "detached", timeout: 15000 });
    for (const d of demos.slice(0, -1)) {
      const st = await d.page.textContent("#status");
      if (st !== "connected") fail("another client went too: " + st);
    }
    await shot(ui, cfg.shots + "after-disconnect.png");
    await victim.page.screenshot({ path: cfg.shots + "demo-disconnected.png" });
    step("disconnected from the UI");
    if (errors.length) fail("page errors: " + errors.join("; "));
  } finally {
    await browser.close();
  }
}

run(main);
