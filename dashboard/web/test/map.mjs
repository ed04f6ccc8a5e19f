// Browser test of the command-centre map, run by cmd/smarteye's tests
// against a running `smarteye demo`: Debian's chromium driven by
// playwright-core. Usage: node map.mjs URL SCREENSHOT.png
// Prints one JSON line of what the page shows; exits non-zero on failure.
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"],
});
const fail = async (msg) => {
  console.error(msg);
  await browser.close();
  process.exit(1);
};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const remote = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.host !== new URL(url).host && u.protocol !== "data:" && u.protocol !== "blob:") remote.push(r.url());
  });
  await page.goto(url);
  // Live: three drones with positions, cameras with footprints, the
  // buildings and the fences loaded.
  await page.waitForFunction(() => {
    const s = globalThis.smarteye;
    if (!s || !s.connected || !s.map) return false;
    const placed = [...s.vehicles.values()].filter((e) => e.v?.position).length;
    const footprints = [...s.cameras.values()].filter((c) => c.footprint?.length >= 4).length;
    return placed >= 3 && footprints >= 2 && s.map.isSourceLoaded("buildings") && s.map.isSourceLoaded("geofences");
  }, null, { timeout: 60000 });
  // Detections arrive from the plaza cameras within a few seconds.
  await page.waitForFunction(() => globalThis.smarteye.detections.length > 0, null, { timeout: 30000 });
  await page.waitForTimeout(1500); // let the 1 s redraw put them on the map
  const seen = await page.evaluate(() => {
    const s = globalThis.smarteye;
    return {
      vehicles: s.vehicles.size,
      cameras: s.cameras.size,
      footprints: [...s.cameras.values()].filter((c) => c.footprint?.length >= 4).length,
      detections: s.detections.length,
      buildings: s.map.querySourceFeatures("buildings").length,
      geofences: s.map.querySourceFeatures("geofences").length,
      markers: document.querySelectorAll(".vehicle").length,
    };
  });
  // Clicking a drone opens its panel.
  await page.locator(".vehicle").first().click();
  await page.waitForSelector("#panel:not([hidden]) td");
  seen.panel = await page.locator("#panel h3").textContent();
  if (shot) await page.screenshot({ path: shot });
  if (errors.length) await fail("page errors: " + errors.join("; "));
  if (remote.length) await fail("requests outside smarteye: " + remote.join(", "));
  console.log(JSON.stringify(seen));
  await browser.close();
} catch (e) {
  await fail(String(e));
}
