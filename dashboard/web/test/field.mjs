// Browser test of the field page and the dashboard's alert panel, run by
// cmd/smarteye's tests against a running `smarteye demo` whose config has a
// field user in team "plaza": Debian's chromium driven by playwright-core.
//
//   node field.mjs URL ADMIN_PASSWORD FIELD_USER FIELD_PASSWORD SHOTS_DIR
//
// A phone (390×844, location shared) logs in to /field and waits for the
// works-area intrusion alert to arrive live; checks its thumbnail, small
// map and distance; acknowledges it with a comment. A desktop logged in as
// admin sees it acknowledged in the alert panel and clicks it (the map
// flies there, the camera opens). Prints one JSON line; exits non-zero on
// failure.
import { launch } from "./chromium.mjs";

const [url, adminPassword, fieldUser, fieldPassword, shots] = process.argv.slice(2);
const { browser, fail } = await launch();
const RULE = "works-intrusion";

try {
  const seen = {};
  // 1. The phone, 60 m south-west of the works area.
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    geolocation: { latitude: 22.53905, longitude: 114.05415, accuracy: 8 }, permissions: ["geolocation"],
  });
  const p = await phone.newPage();
  const errors = [];
  p.on("pageerror", (e) => errors.push(e.message));
  p.on("response", (r) => r.status() >= 400 && r.status() !== 401 && errors.push(`${r.status()} ${r.url()}`));
  await p.goto(url + "field");
  await p.waitForSelector("#login:not([hidden])", { timeout: 30000 });
  await p.fill("#username", fieldUser);
  await p.fill("#password", fieldPassword);
  await p.click("#login button");
  await p.waitForFunction(() => globalThis.smarteyeField?.ready && globalThis.smarteyeField.connected, null, { timeout: 30000 });
  seen.team = await p.locator("#team").textContent();
  // With no alerts the page says so; with some, it shows them.
  seen.emptyTruthful = await p.evaluate(() => document.getElementById("empty").hidden === document.querySelectorAll("#alerts li").length > 0);
  seen.loginHidden = await p.locator("#login").isHidden();
  // What the page cost to load (compressed sizes as sent).
  seen.pageBytes = await p.evaluate(() => [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
    .reduce((n, e) => n + (e.encodedBodySize || 0), 0));

  // 2. The intrusion arrives live: newest first, with its evidence.
  const card = p.locator(`li.alert[data-rule="${RULE}"]`).first();
  await card.waitFor({ timeout: 180000 });
  const id = await card.getAttribute("data-id");
  seen.alert = id;
  const a = await p.evaluate((id) => {
    const s = globalThis.smarteyeField, a = s.alerts.get(id);
    return { shown: s.shown[id], event_time: a.event_time, received: a.received, beeps: s.beeps, vibrations: s.vibrations, team: a.team, title: a.title };
  }, id);
  if (!a.shown) await fail(`the alert was not shown live (it was there at load): ${JSON.stringify(a)}`);
  seen.shownAfterEventMs = a.shown - Date.parse(a.event_time);
  seen.shownAfterReceivedMs = a.received ? a.shown - Date.parse(a.received) : null;
  seen.beeps = a.beeps;
  seen.vibrations = a.vibrations;
  seen.title = a.title;
  await p.waitForFunction((id) => {
    const el = document.querySelector(`li[data-id="${id}"]`);
    const snap = el.querySelector(".snap"), map = el.querySelector(".map img");
    return snap.complete && snap.naturalWidth > 0 && map.complete && map.naturalWidth > 0 && !el.querySelector(".dist").hidden;
  }, id, { timeout: 30000 });
  seen.thumbWidth = await card.locator(".snap").evaluate((i) => i.naturalWidth);
  seen.distance = await card.locator(".dist .text").textContent();
  seen.meOnMap = await card.locator(".me").isVisible();
  if (shots) await p.screenshot({ path: `${shots}/field.png` });

  // 3. Acknowledge with a comment.
  await card.locator(".comment").fill("on my way");
  await card.locator(".ack").click();
  await p.waitForFunction((id) => document.querySelector(`li[data-id="${id}"] .state`).textContent.startsWith("acknowledged by"), id, { timeout: 15000 });
  seen.fieldState = await card.locator(".state").textContent();
  seen.resolveShown = await card.locator(".resolve").isVisible();
  if (shots) await p.screenshot({ path: `${shots}/field-acknowledged.png` });

  // 4. The command centre shows it acknowledged; a click flies there.
  const desk = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await desk.goto(url);
  await desk.waitForFunction(() => globalThis.smarteye?.ready === "login", null, { timeout: 30000 });
  await desk.fill("#username", "admin");
  await desk.fill("#password", adminPassword);
  await Promise.all([desk.waitForNavigation(), desk.click("#login-form button")]);
  await desk.waitForFunction(() => globalThis.smarteye?.ready === true, null, { timeout: 60000 });
  const item = desk.locator(`#alert-list li[data-id="${id}"]`);
  await item.waitFor({ timeout: 15000 });
  seen.panelClass = await item.getAttribute("class");
  seen.panelText = await item.textContent();
  await item.click();
  await desk.waitForFunction((id) => globalThis.smarteye.alertClicked === id && !document.querySelector("#panel").hidden, id, { timeout: 10000 });
  // The flight (1.2 s): over when the map stops moving, however slowly
  // a busy machine draws it.
  await desk.waitForFunction(() => !globalThis.smarteye.map.isMoving(), null, { timeout: 15000 });
  const c = await desk.evaluate(() => globalThis.smarteye.map.getCenter());
  seen.mapCenter = [c.lng, c.lat];
  seen.panelTitle = await desk.locator("#panel-body h3").textContent();
  if (shots) await desk.screenshot({ path: `${shots}/dashboard-alerts.png` });
  if (errors.length) await fail(`failed requests or page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify(seen));
  await browser.close();
} catch (e) {
  await fail(e.stack || String(e));
}
