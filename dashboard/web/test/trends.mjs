// Browser test of the Trends page, run by cmd/smarteye's tests against a
// running `smarteye demo` (whose zone has weeks of generated history):
// Debian's chromium driven by playwright-core.
//
//   node trends.mjs URL ADMIN_PASSWORD SHOTS_DIR
//
// Opens /trends for the last 30 days of zones, waits for the charts, and
// compares what each chart drew with the API's answer for the same query
// (fetched by the test, not the page): the range's line, the previous
// period's, the forecast line and its band; hovers a forecast hour and
// reads the tooltip; switches the chart to entries; takes the README's
// screenshot. Prints one JSON line; exits non-zero on failure.
import { launch } from "./chromium.mjs";

const [url, adminPassword, shots] = process.argv.slice(2);
const { browser, fail } = await launch();

try {
  const ctx = await browser.newContext({ viewport: { width: 1500, height: 900 } });
  const r = await ctx.request.post(url + "api/v1/auth/login", { data: { username: "admin", password: adminPassword } });
  if (!r.ok()) await fail(`login: ${r.status()}`);
  const p = await ctx.newPage();
  const errors = [];
  p.on("pageerror", (e) => errors.push(e.message));
  p.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  await p.goto(`${url}trends?scope=zone&preset=30&metric=peak`);
  await p.waitForFunction(() => globalThis.smarteyeTrends?.loaded || globalThis.smarteyeTrends?.error, null, { timeout: 120000 });
  const page = await p.evaluate(() => {
    const s = globalThis.smarteyeTrends;
    const card = document.querySelector(".card");
    const d = (sel) => card?.querySelector(sel)?.getAttribute("d") ?? "";
    return {
      error: s.error, url: s.url, charts: s.charts, forecasts: s.forecasts, step: s.answer?.step,
      key: card?.dataset.key, summary: card?.querySelector(".sum")?.textContent, note: card?.querySelector(".note")?.textContent,
      // Points drawn: one "M" or "L" per step.
      cur: (d("path.cur").match(/[ML]/g) || []).length, prev: (d("path.prev").match(/[ML]/g) || []).length,
      forecast: (d("path.forecast").match(/[ML]/g) || []).length,
      band: (card?.querySelector("polygon.band")?.getAttribute("points") || "").trim().split(/\s+/).filter(Boolean).length,
      heat: !!s.answer && !!document.querySelector("#heat-note")?.textContent,
    };
  });
  if (page.error) await fail(`the page failed: ${page.error}`);
  // The same query straight from the API.
  const api = await (await ctx.request.get(url + page.url)).json();
  const s0 = api.series.find((s) => s.key === page.key);
  const seen = { ...page, errors, apiSteps: s0?.time.length, apiForecast: s0?.forecast?.forecast?.mean.length ?? 0,
    apiPeakMax: Math.max(...(s0?.peak ?? [0])), apiForecastError: s0?.forecast?.error ?? "" };
  // Hover the forecast's last hour: the tooltip reads it.
  const box = await p.locator(".card svg.chart").first().boundingBox();
  await p.mouse.move(box.x + box.width - 14, box.y + box.height / 2);
  seen.tooltip = await p.locator(".card .tip").first().textContent();
  await p.screenshot({ path: `${shots}/trends.png` });
  await p.selectOption("#metric", "entries");
  seen.entriesNote = await p.locator(".card .note").first().textContent();
  seen.entriesDrawn = await p.evaluate(() => (document.querySelector(".card path.cur")?.getAttribute("d").match(/[ML]/g) || []).length);
  console.log(JSON.stringify(seen));
  await browser.close();
} catch (err) {
  await fail(err.stack || String(err));
}
