// Browser test of the replay page, run by cmd/smarteye's tests against a
// running `smarteye demo` whose simulated camera burns a timecode into its
// picture: Debian's chromium driven by playwright-core.
//
//   node replay.mjs URL ADMIN_PASSWORD FROM TO SHOTS_DIR
//
// Opens /replay for [FROM, TO), moves the slider to three moments (a drag
// and release) and, at each, reads the video frame's burned timecode (32
// cells in the top rows, tenths of a second) and the drones' positions;
// plays at 4×, jumps to the next event, and opens the shared link. Prints
// one JSON line; exits non-zero on failure.
import { launch } from "./chromium.mjs";

const [url, adminPassword, from, to, shots] = process.argv.slice(2);
const { browser, fail } = await launch();

// frameAt reads what the camera's tile shows: the timecode in its top rows
// (decoded here, by the test, not by the page) and the media time.
const readFrame = () => {
  const s = globalThis.smarteyeReplay;
  const tile = [...s.tiles.values()][0];
  const v = tile.video;
  const c = document.createElement("canvas");
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(v, 0, 0);
  let code = 0;
  for (let k = 0; k < 32; k++) {
    const [r, gr, b] = g.getImageData(Math.floor(((2 * k + 1) * c.width) / 64), 12, 1, 1).data;
    if ((r + gr + b) / 3 >= 128) code += 2 ** k;
  }
  return { code, t: s.t, at: performance.now(), mediaMs: s.from + v.currentTime * 1000, width: c.width, segment: tile.el.dataset.segment, vehicles: s.vehiclesAt,
    // Drone cameras' footprints at t, by the vehicle carrying them.
    footprints: Object.fromEntries(Object.entries(s.footprintsAt).map(([id, ring]) => [s.cameras.find((c) => c.id === id)?.vehicle_id ?? id, ring])) };
};

try {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 860 } });
  const r = await ctx.request.post(url + "api/v1/auth/login", { data: { username: "admin", password: adminPassword } });
  if (!r.ok()) await fail(`login: ${r.status()}`);
  const p = await ctx.newPage();
  const errors = [];
  p.on("pageerror", (e) => errors.push(e.message));
  p.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  await p.goto(`${url}replay?from=${from}&to=${to}`);
  await p.waitForFunction(() => globalThis.smarteyeReplay?.loaded, null, { timeout: 60000 });
  await p.waitForFunction(() => [...globalThis.smarteyeReplay.tiles.values()][0]?.sb, null, { timeout: 30000 });
  const seen = { moments: [], errors };
  seen.loaded = await p.evaluate(() => {
    const s = globalThis.smarteyeReplay;
    return { vehicles: [...s.tracks.keys()], events: s.events.length, tiles: [...s.tiles.keys()], detections: s.det.t.length,
      openedAt: s.t, from: s.from, firstTrack: Math.min(...[...s.tracks.values()].map((tr) => tr.t[0])) };
  });
  const box = await p.locator("#slider").boundingBox();
  const f = Date.parse(from), z = Date.parse(to);
  for (const frac of [0.3, 0.75, 0.5]) {
    const before = await p.evaluate(() => globalThis.smarteyeReplay.seeks.length);
    // Click the timeline at the spot (a drag would already show the
    // frame before the release, leaving nothing to time).
    const x = box.x + 8 + (box.width - 16) * frac, y = box.y + box.height / 2;
    await p.mouse.click(x, y);
    await p.waitForFunction((n) => globalThis.smarteyeReplay.seeks.length > n, before, { timeout: 20000 });
    await p.waitForTimeout(300);
    const m = await p.evaluate(readFrame);
    m.seekMs = await p.evaluate(() => globalThis.smarteyeReplay.seeks.at(-1).ms);
    seen.moments.push(m);
  }
  await p.screenshot({ path: `${shots}/replay.png` });
  // Play at 4× for two seconds: the slider moves about eight.
  await p.selectOption("#speed", "4");
  // Both ends are timed in the page, so that a busy machine's slow round
  // trips to the browser do not count as the page's own time.
  const started = await p.evaluate(() => {
    document.getElementById("play").click();
    return { t: globalThis.smarteyeReplay.t, at: performance.now() };
  });
  await p.waitForTimeout(2000);
  // Read at the next animation frame, just after the page has moved the
  // slider for it: the slider's t and the video's time of one moment.
  const played = await p.evaluate(`new Promise((done) => requestAnimationFrame(() => done((${readFrame})())))`);
  // Pause (unless it reached the end of the range and paused itself:
  // then a click would play again from the start).
  await p.evaluate(() => globalThis.smarteyeReplay.playing && document.getElementById("play").click());
  seen.play = { advancedMs: played.t - started.t, wallMs: played.at - started.at, videoLagMs: played.t - played.mediaMs };
  // The next event (or the previous one when none is later), then a
  // shared link to the moment.
  const tBefore = await p.evaluate(() => globalThis.smarteyeReplay.t);
  const later = await p.evaluate(() => {
    const s = globalThis.smarteyeReplay;
    return [...s.events.filter((e) => !e.kind.startsWith("track.")), ...s.alerts].some((e) => e.ms > s.t + 500);
  });
  await p.click(later ? "#next" : "#prev");
  seen.next = await p.evaluate((tb) => {
    const s = globalThis.smarteyeReplay;
    return { moved: Math.abs(s.t - tb), label: document.getElementById("event-at").textContent, isEvent: s.events.some((e) => e.ms === s.t) || s.alerts.some((a) => a.ms === s.t) };
  }, tBefore);
  const link = await p.evaluate(() => globalThis.smarteyeReplay.shareLink());
  const p2 = await ctx.newPage();
  await p2.goto(link);
  await p2.waitForFunction(() => globalThis.smarteyeReplay?.loaded, null, { timeout: 60000 });
  seen.shared = await p2.evaluate(() => ({ t: globalThis.smarteyeReplay.t }));
  seen.sharedWant = await p.evaluate(() => globalThis.smarteyeReplay.t);
  seen.range = [f, z];
  console.log(JSON.stringify(seen));
  await browser.close();
} catch (err) {
  await fail(err.stack || String(err));
}
