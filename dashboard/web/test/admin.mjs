// Browser test of the accounts page, run by cmd/smarteye's tests against a
// running `smarteye serve` whose directory (LDAP) is a real slapd with the
// people of dashboard/ldaptest: Debian's chromium driven by playwright-core.
//
//   node admin.mjs manage  URL ADMIN_PASSWORD SHOTS_DIR STATE_FILE
//   node admin.mjs restart URL ADMIN_PASSWORD SHOTS_DIR STATE_FILE
//
// manage: the admin logs in on the page; makes a user (a common password
// refused on the page, a good one accepted); that user logs in, sees only
// their own account and changes their password; the admin ends one of the
// user's logins, makes an API token (shown once, works) and revokes it
// (stops working); a directory user logs in with their group's role and a
// directory user in no mapped group is refused; a name guessed five times
// is locked out with the wait shown; the audit page shows every step and
// its CSV downloads; a burst of API requests is throttled (429 with
// Retry-After). The admin's browser state is saved to STATE_FILE.
// restart: after smarteye restarted, the saved browser is still logged in.
// Prints one JSON line; exits non-zero on failure.
import { readFileSync } from "node:fs";
import { launch } from "./chromium.mjs";

const [phase, url, password, shots, stateFile] = process.argv.slice(2);
const { browser, fail } = await launch();
const T = 60000;
const out = { errors: [] };

// page opens the accounts page in a new browser (or one from a saved
// state) and collects its errors.
async function page(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 820 }, acceptDownloads: true, ...opts });
  const p = await ctx.newPage();
  p.on("pageerror", (e) => out.errors.push(e.message));
  p.on("dialog", (d) => d.accept());
  return { ctx, p };
}

async function loginOnPage(p, user, pw) {
  const resp = await p.goto(url + "admin");
  await p.waitForFunction(() => globalThis.smarteyeAdmin?.ready === "login", null, { timeout: T });
  await p.fill("#username", user);
  await p.fill("#password", pw);
  await p.click("#login button");
  return resp;
}

async function ready(p) {
  await p.waitForFunction(() => globalThis.smarteyeAdmin?.ready === true, null, { timeout: T });
}

const me = async (ctx) => {
  const r = await ctx.request.get(url + "api/v1/auth/me");
  return r.ok() ? r.json() : { status: r.status() };
};

try {
  if (phase === "manage") {
    const admin = await page();
    const resp = await loginOnPage(admin.p, "admin", password);
    const h = resp.headers();
    out.headers = { csp: h["content-security-policy"], nosniff: h["x-content-type-options"], referrer: h["referrer-policy"] };
    await ready(admin.p);
    out.adminTabs = await admin.p.locator("#tabs button:visible").allTextContents();

    // A user: a common password is refused on the page, a good one works.
    await admin.p.click('#tabs button[data-tab="users"]');
    await admin.p.fill("#nu-name", "ops.kim");
    await admin.p.selectOption("#nu-role", "commander");
    await admin.p.fill("#nu-team", "plaza");
    await admin.p.fill("#nu-password", "Password123!");
    await admin.p.click("#user-form button");
    await admin.p.waitForFunction(() => document.querySelector("#user-error").textContent.length > 0, null, { timeout: T });
    out.weakRefused = await admin.p.textContent("#user-error");
    await admin.p.fill("#nu-password", "harbour-lantern-58");
    await admin.p.click("#user-form button");
    await admin.p.waitForSelector('#users tr[data-name="ops.kim"]', { timeout: T });
    out.userRow = await admin.p.locator('#users tr[data-name="ops.kim"]').innerText();
    if (shots) await admin.p.screenshot({ path: `${shots}/accounts-users.png` });

    // The user logs in, sees only their account, changes their password.
    const kim = await page();
    await loginOnPage(kim.p, "ops.kim", "harbour-lantern-58");
    await ready(kim.p);
    out.userTabs = await kim.p.locator("#tabs button:visible").allTextContents();
    const second = await page();
    if (!(await second.ctx.request.post(url + "api/v1/auth/login", { data: { username: "ops.kim", password: "harbour-lantern-58" } })).ok()) await fail("second login");
    await kim.p.fill("#pw-current", "harbour-lantern-58");
    await kim.p.fill("#pw-new", "granite-willow-71");
    await kim.p.fill("#pw-again", "granite-willow-71");
    await kim.p.click("#password-form button");
    await kim.p.waitForFunction(() => globalThis.smarteyeAdmin.passwordChanged, null, { timeout: T });
    out.otherLoginAfterPasswordChange = (await me(second.ctx)).status ?? 200;
    if (!(await second.ctx.request.post(url + "api/v1/auth/login", { data: { username: "ops.kim", password: "granite-willow-71" } })).ok()) await fail("login with the new password");
    const secondID = (await me(second.ctx)).session_id;

    // The admin ends that login from the Logins tab.
    await admin.p.click('#tabs button[data-tab="logins"]');
    await admin.p.waitForSelector(`#logins tr[data-id="${secondID}"]`, { timeout: T });
    out.loginsListed = await admin.p.locator('#logins tr[data-user="ops.kim"]').count();
    await admin.p.click(`#logins tr[data-id="${secondID}"] button`);
    await admin.p.waitForSelector(`#logins tr[data-id="${secondID}"]`, { state: "detached", timeout: T });
    out.endedLogin = (await me(second.ctx)).status ?? 200;
    out.keptLogin = (await me(kim.ctx)).role;

    // An API token: shown once, works, revoked, stops.
    await admin.p.click('#tabs button[data-tab="tokens"]');
    await admin.p.fill("#nt-name", "gis-sync");
    await admin.p.selectOption("#nt-role", "planner");
    await admin.p.click("#token-form button");
    await admin.p.waitForFunction(() => document.querySelector("#new-token-value").textContent.length > 20, null, { timeout: T });
    const token = await admin.p.textContent("#new-token-value");
    const bearer = () => fetch(url + "api/v1/auth/me", { headers: { Authorization: `Bearer ${token}` } });
    let r = await bearer();
    out.tokenRole = r.ok ? (await r.json()).role : r.status;
    await admin.p.click('#tabs button[data-tab="tokens"]'); // reload: last used
    const row = admin.p.locator("#tokens tr", { hasText: "gis-sync" });
    await row.locator("button").click();
    await admin.p.waitForSelector('#tokens tr.off:has-text("gis-sync")', { timeout: T });
    r = await bearer();
    out.revokedToken = r.status;

    // The directory: lee (field-north) logs in as field; max (no mapped
    // group) is refused.
    const lee = await page();
    await loginOnPage(lee.p, "lee", "lee-directory-pass");
    await ready(lee.p);
    out.directoryUser = await lee.p.textContent("#me-line");
    out.directoryRole = (await me(lee.ctx)).role;
    const max = await page();
    await loginOnPage(max.p, "max", "max-directory-pass");
    await max.p.waitForFunction(() => document.querySelector("#login-error").textContent.length > 0, null, { timeout: T });
    out.unmappedRefused = await max.p.textContent("#login-error");

    // A name guessed over and over from one address is locked out there.
    const guess = await page();
    await guess.p.goto(url + "admin");
    await guess.p.waitForFunction(() => globalThis.smarteyeAdmin?.ready === "login", null, { timeout: T });
    for (let i = 0; i < 6; i++) {
      await guess.p.fill("#username", "nobody-here");
      await guess.p.fill("#password", `guess-${i}`);
      const answered = guess.p.waitForResponse((x) => x.url().endsWith("api/v1/auth/login"));
      await guess.p.click("#login button");
      await answered;
    }
    await guess.p.waitForFunction(() => /too many failed logins/.test(document.querySelector("#login-error").textContent), null, { timeout: T });
    out.lockedOut = await guess.p.textContent("#login-error");

    // The audit page: every step, filtered, and its CSV.
    await admin.p.click('#tabs button[data-tab="audit"]');
    await admin.p.waitForFunction(() => globalThis.smarteyeAdmin.audit?.length > 0, null, { timeout: T });
    out.auditActions = [...new Set(await admin.p.evaluate(() => globalThis.smarteyeAdmin.audit.map((e) => e.action)))].sort();
    await admin.p.selectOption("#au-kind", "user");
    await admin.p.click("#audit-form button");
    await admin.p.waitForFunction(() => globalThis.smarteyeAdmin.audit.every((e) => e.object_type === "user"), null, { timeout: T });
    out.userAudit = await admin.p.evaluate(() => globalThis.smarteyeAdmin.audit.map((e) => `${e.actor} ${e.action} ${e.object_id}`));
    await admin.p.selectOption("#au-kind", "");
    await admin.p.click("#audit-form button");
    await admin.p.waitForFunction(() => globalThis.smarteyeAdmin.audit.some((e) => e.object_type !== "user"), null, { timeout: T });
    if (shots) await admin.p.screenshot({ path: `${shots}/accounts-audit.png` });
    const [download] = await Promise.all([admin.p.waitForEvent("download", { timeout: T }), admin.p.click("#audit-csv")]);
    const csv = readFileSync(await download.path(), "utf8").split("\n");
    out.csvHeader = csv[0];
    out.csvRows = csv.filter((l) => l.trim()).length - 1;
    await admin.ctx.storageState({ path: stateFile });

    // Throttling, last (it holds this address back for a few seconds): a
    // burst of API requests past the limit is answered 429 with
    // Retry-After.
    out.throttled = await guess.p.evaluate(async () => {
      const rs = await Promise.all(Array.from({ length: 400 }, () => fetch("api/v1/auth/me").then((r) => [r.status, r.headers.get("Retry-After")])));
      const limited = rs.filter((r) => r[0] === 429);
      return { requests: rs.length, limited: limited.length, retryAfter: limited[0]?.[1] ?? null };
    });
  } else if (phase === "restart") {
    const admin = await page({ storageState: stateFile });
    await admin.p.goto(url + "admin#logins");
    await ready(admin.p);
    out.afterRestart = await admin.p.textContent("#whoami");
    out.loginsAfterRestart = await admin.p.locator("#logins tbody tr").count();
  } else {
    await fail(`unknown phase ${phase}`);
  }
  if (out.errors.length) await fail("page errors: " + out.errors.join("; "));
  console.log(JSON.stringify(out));
  await browser.close();
} catch (err) {
  await fail(`${err.stack}\n${JSON.stringify(out)}`);
}
