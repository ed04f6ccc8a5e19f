// Browser test of the supervision page, run by cmd/smarteye's tests against
// a running `smarteye demo`: Debian's chromium driven by playwright-core.
//
//   node session.mjs room   URL SESSION_ID PASSWORD SHOTS_DIR
//   node session.mjs record URL SESSION_ID PASSWORD SHOTS_DIR
//
// room: three browser contexts in the live room — sue (supervisor), admin
// and pat (a planner, invited read-only). Sue types a remark: the others
// show it, with its time, and the delay from sue's Enter to its arrival is
// measured; then admin types one and sue sees it. Pat has no remark form.
// The cameras play in sue's room.
// record: the ended session's page shows the recording (the replay page,
// framed); clicking a remark moves it to the remark's moment.
// Prints one JSON line; exits non-zero on failure.
import { launch } from "./chromium.mjs";

const [phase, url, id, password, shots] = process.argv.slice(2);
const { browser, fail } = await launch();

async function open(user, size = { width: 1400, height: 860 }) {
  const ctx = await browser.newContext({ viewport: size });
  const r = await ctx.request.post(url + "api/v1/auth/login", { data: { username: user, password } });
  if (!r.ok()) await fail(`login ${user}: ${r.status()}`);
  const p = await ctx.newPage();
  const errors = [];
  p.on("pageerror", (e) => errors.push(`${user}: ${e.message}`));
  p.on("response", (r) => r.status() >= 400 && errors.push(`${user}: ${r.status()} ${r.url()}`));
  await p.goto(`${url}sessions?id=${encodeURIComponent(id)}`);
  await p.waitForFunction(() => globalThis.smarteyeSession?.roomOpen, null, { timeout: 30000 });
  return { p, errors };
}

// remarkOnPage is how a page shows a remark: its seen time, and the time
// printed beside it.
const remarkOnPage = (body) => {
  const s = globalThis.smarteyeSession;
  const r = s.remarks.find((x) => x.body === body);
  if (!r) return null;
  const li = document.querySelector(`#remarks li[data-id="${r.id}"]`);
  return { id: r.id, at: r.at, author: r.author, seenAt: s.remarkSeen[r.id], shown: li?.querySelector(".at")?.textContent.trim(), expected: new Date(r.at).toLocaleTimeString() };
};

async function say(page, body) {
  await page.fill("#remark-body", body);
  const sent = await page.evaluate(() => Date.now());
  await page.press("#remark-body", "Enter");
  return sent;
}

try {
  const out = { errors: [] };
  if (phase === "room") {
    const sue = await open("sue");
    const admin = await open("admin");
    const pat = await open("pat");
    for (const x of [sue, admin, pat]) out.errors.push(...x.errors);
    // Everyone is in the room.
    await sue.p.waitForFunction(() => globalThis.smarteyeSession.present?.people.length >= 3, null, { timeout: 10000 });
    out.present = await sue.p.evaluate(() => globalThis.smarteyeSession.present);
    out.patCanRemark = await pat.p.isVisible("#remark");

    const body1 = `Scaffold tie missing on level 3 (${Date.now()})`;
    const sent1 = await say(sue.p, body1);
    out.remark1 = {};
    for (const [name, x] of [["admin", admin], ["pat", pat], ["sue", sue]]) {
      await x.p.waitForFunction((b) => globalThis.smarteyeSession.remarks.some((r) => r.body === b), body1, { timeout: 5000 });
      const r = await x.p.evaluate(remarkOnPage, body1);
      out.remark1[name] = { ...r, delayMs: r.seenAt - sent1 };
    }
    const body2 = `Acknowledged, site lead informed (${Date.now()})`;
    const sent2 = await say(admin.p, body2);
    await sue.p.waitForFunction((b) => globalThis.smarteyeSession.remarks.some((r) => r.body === b), body2, { timeout: 5000 });
    const r2 = await sue.p.evaluate(remarkOnPage, body2);
    out.remark2 = { ...r2, delayMs: r2.seenAt - sent2 };

    // A remark with a snapshot of the first camera.
    await sue.p.check("#remark-snap");
    const body3 = `Exit route blocked by pallets (${Date.now()})`;
    await say(sue.p, body3);
    await admin.p.waitForFunction((b) => globalThis.smarteyeSession.remarks.some((r) => r.body === b), body3, { timeout: 5000 });
    await admin.p.waitForFunction((b) => document.querySelector("#remarks img")?.complete && document.querySelector("#remarks img").naturalWidth > 0, null, { timeout: 30000 })
      .catch(async (e) => { throw new Error(`${e.message}; the sender's page says: ${await sue.p.textContent("#remark-error")}`); });
    out.snapshotWidth = await admin.p.evaluate(() => document.querySelector("#remarks img").naturalWidth);

    // The cameras play in the room.
    await sue.p.waitForFunction(() => globalThis.smarteyeSession.players.length > 0 && globalThis.smarteyeSession.players.every((p) => p.stats.frames > 5), null, { timeout: 30000 });
    out.players = await sue.p.evaluate(() => globalThis.smarteyeSession.players.map((p) => ({ camera: p.camera, path: p.stats.path, frames: p.stats.frames })));
    await sue.p.waitForFunction(() => globalThis.smarteyeSession.attendance?.points.length > 0, null, { timeout: 15000 });
    out.attendancePoints = await sue.p.evaluate(() => globalThis.smarteyeSession.attendance.points.length);
    if (shots) await sue.p.screenshot({ path: `${shots}/session-room.png` });
    for (const x of [sue, admin, pat]) out.errors.push(...x.errors.filter((e) => !out.errors.includes(e)));
  } else {
    const sue = await open("sue");
    const p = sue.p;
    await p.waitForFunction(() => document.querySelector("#recording")?.contentWindow?.smarteyeReplay?.loaded, null, { timeout: 60000 });
    out.remarks = await p.evaluate(() => globalThis.smarteyeSession.remarks.length);
    out.clicks = [];
    for (const i of [1, 0]) {
      const want = await p.evaluate((i) => Date.parse(globalThis.smarteyeSession.remarks[i].at), i);
      await p.locator("#remarks li .at").nth(i).click();
      const t = await p.evaluate(() => document.querySelector("#recording").contentWindow.smarteyeReplay.t);
      out.clicks.push({ want, t });
    }
    out.chartMarks = await p.locator("#chart .mark").count();
    out.audit = await p.locator("#audit li").count();
    await p.waitForTimeout(1500);
    if (shots) await p.screenshot({ path: `${shots}/session-record.png` });
    out.errors.push(...sue.errors);
  }
  console.log(JSON.stringify(out));
  await browser.close();
} catch (e) {
  await fail(`session ${phase}: ${e.stack || e}`);
}
