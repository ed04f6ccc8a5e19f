// Browser figures for `make bench` (deploy/bench/browser.go), in Debian's
// chromium through playwright-core:
//
//   node bench.mjs URL PASSWORD render N    time from navigation to the first complete map, N loads
//   node bench.mjs URL PASSWORD mse|webrtc SECONDS CAMERA
//                                           glass-to-glass latency of a wall tile
//
// The latency camera burns the wall-clock milliseconds (mod 65536) into
// its top-left corner as 16 black/white 24-px boxes (ffmpeg drawbox with
// time(0), when the frame is made); the page reads them from each frame
// it presents and subtracts them from its own clock. Prints JSON.
import { launch, WEBRTC_ARGS } from "./chromium.mjs";

const [url, password, mode, arg, camera] = process.argv.slice(2);
const { browser } = await launch(WEBRTC_ARGS);
const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
const page = await context.newPage();
await page.goto(url);
await page.waitForFunction(() => globalThis.smarteye?.ready === "login", null, { timeout: 60000 });
await page.fill("#username", "admin");
await page.fill("#password", password);
await Promise.all([page.waitForNavigation(), page.click("#login-form button")]);
await page.waitForFunction(() => globalThis.smarteye?.ready === true, null, { timeout: 60000 });

if (mode === "alerts") {
  // Glass to alert: for arg seconds the field page (team `camera`) counts,
  // for every alert that arrives live, the time from its frame's capture
  // (event_time) and from the frame's arrival at smarteye (received) to
  // the card on screen.
  const phone = await context.newPage(); // the same login
  await phone.goto(`${url}field?team=${camera}`);
  await phone.waitForFunction(() => globalThis.smarteyeField?.ready && globalThis.smarteyeField.connected, null, { timeout: 60000 });
  await phone.waitForTimeout(Number(arg) * 1000);
  const r = await phone.evaluate(() => {
    const s = globalThis.smarteyeField, out = { fromCapture: [], fromArrival: [] };
    for (const [id, shown] of Object.entries(s.shown)) {
      const a = s.alerts.get(id);
      if (!a) continue;
      out.fromCapture.push(shown - Date.parse(a.event_time));
      if (a.received) out.fromArrival.push(shown - Date.parse(a.received));
    }
    return out;
  });
  console.log(JSON.stringify(r));
} else if (mode === "render") {
  const times = [];
  for (let i = 0; i < Number(arg); i++) {
    await page.goto(url + "?run=" + i);
    await page.waitForFunction(() => globalThis.smarteye?.ready === true && globalThis.smarteye.vehicles.size > 0, null, { timeout: 60000 });
    times.push(await page.evaluate(() => globalThis.smarteye.timing.firstRender));
  }
  console.log(JSON.stringify({ firstRenderMs: times }));
} else {
  await page.evaluate((cam) => localStorage.setItem("smarteye.wall", JSON.stringify({ layout: 1, cameras: [cam] })), camera);
  await page.goto(`${url}?video=${mode}#wall`);
  await page.waitForFunction((m) => globalThis.smarteye?.wall?.stats()[0]?.path === m && globalThis.smarteye.wall.stats()[0].frames > 25, mode, { timeout: 60000 });
  const samples = await page.evaluate(async (secs) => {
    const v = document.querySelector("#wall video");
    const c = document.createElement("canvas");
    c.width = 384;
    c.height = 24;
    const g = c.getContext("2d", { willReadFrequently: true });
    const out = [];
    await new Promise((resolve) => {
      const end = Date.now() + secs * 1000;
      const onFrame = () => {
        const now = Date.now();
        g.drawImage(v, 0, 0, 384, 24, 0, 0, 384, 24);
        const px = g.getImageData(0, 0, 384, 24).data;
        let value = 0;
        for (let k = 0; k < 16; k++) {
          const i = (12 * 384 + k * 24 + 12) * 4;
          if (px[i] + px[i + 1] + px[i + 2] > 384) value |= 1 << k;
        }
        out.push((now % 65536 - value + 65536) % 65536);
        if (now < end) v.requestVideoFrameCallback(onFrame);
        else resolve();
      };
      v.requestVideoFrameCallback(onFrame);
    });
    return out;
  }, Number(arg));
  const tile = await page.evaluate(() => globalThis.smarteye.wall.stats()[0]);
  console.log(JSON.stringify({ path: tile.path, samples, pageLatency: tile.latency }));
}
await browser.close();
