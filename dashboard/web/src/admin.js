// smarteye's accounts page: everyone changes their own password and ends
// their own logins; admins also manage users and API tokens, end anyone's
// login and read (and download) the audit log. Everything goes through the
// same API as scripts use (/api/v1/users, /tokens, /auth/sessions, /audit).
import { api } from "./api.js";
import { loginFlow } from "./auth.js";
import "./admin.css";

const $ = (id) => document.getElementById(id);
const ROLES = ["admin", "commander", "planner", "supervisor", "field"];
const state = { user: null, ready: false, tab: "me", loaded: {} };
globalThis.smarteyeAdmin = state; // for operators' scripts and the browser tests

const when = (t) => (t ? new Date(t).toLocaleString() : "—");
const el = (tag, { dataset, ...props } = {}, ...kids) => {
  const e = Object.assign(document.createElement(tag), props);
  Object.assign(e.dataset, dataset);
  e.append(...kids.filter((k) => k != null));
  return e;
};
const tag = (text, cls = "") => el("span", { className: `tag ${cls}`, textContent: text });
const td = (...kids) => el("td", {}, ...kids);

function toast(msg) {
  const t = $("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

// Logging in and out (auth.js).
const login = loginFlow({ form: $("login"), loggedIn: ["main", "logout"], onShow: () => (state.ready = "login") });

// A button that runs fn, showing its error in errorEl (or a toast).
function action(label, fn, { danger = false, confirmText = "" } = {}) {
  const b = el("button", { textContent: label, className: danger ? "danger" : "" });
  b.onclick = async () => {
    if (confirmText && !confirm(confirmText)) return;
    b.disabled = true;
    try {
      await fn();
    } catch (err) {
      if (!(err.login)) toast(err.message);
    } finally {
      b.disabled = false;
    }
  };
  return b;
}

function roleSelect(sel, value) {
  sel.replaceChildren(...ROLES.map((r) => el("option", { value: r, textContent: r, defaultSelected: r === value, selected: r === value })));
  return sel;
}

// Tabs: #users and so on in the address, so that a link opens one.
function openTab(name) {
  if (!state.user?.permissions.includes("accounts") && name !== "me") name = "me";
  state.tab = name;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== `tab-${name}`;
  if (location.hash.slice(1) !== name) history.replaceState(null, "", name === "me" ? location.pathname : `#${name}`);
  return refresh();
}
for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => openTab(b.dataset.tab);

async function refresh() {
  const load = { me: loadMe, users: loadUsers, tokens: loadTokens, logins: loadLogins, audit: loadAudit }[state.tab];
  try {
    await load();
    state.loaded[state.tab] = Date.now();
  } catch (err) {
    if (!(err.login)) toast(err.message);
  }
}

// My account.
async function loadMe() {
  const u = state.user;
  $("me-line").replaceChildren(`${u.user} · ${u.role}${u.team ? " · team " + u.team : ""} · `, tag(u.source === "local" ? "made here" : u.source === "ldap" ? "directory" : "configuration file"));
  const local = u.source === "local";
  $("password-form").querySelectorAll("input, button").forEach((x) => (x.disabled = !local));
  $("password-note").textContent = local
    ? "Your other logins end when you change it."
    : u.source === "ldap"
      ? "Your password is the directory's: change it there."
      : "Your account is in the configuration file: an administrator changes its password there.";
  const logins = await api("api/v1/auth/sessions");
  $("my-logins").tBodies[0].replaceChildren(...logins.map((l) => el("tr", { dataset: { id: l.id } },
    td(when(l.created_at)), td(when(l.last_seen_at)), td(l.remote_addr), td(browserName(l.user_agent)),
    td(l.current ? tag("this browser", "current") : action("End", async () => {
      await api(`api/v1/auth/sessions/${encodeURIComponent(l.id)}`, { method: "DELETE" });
      toast("Login ended");
      await loadMe();
    }, { danger: true })))));
}

function browserName(ua = "") {
  const m = ua.match(/(Firefox|Edg|Chrome|Chromium|Safari)\/[\d.]+/);
  return m ? m[0].replace("Edg/", "Edge/") : ua.slice(0, 40) || "—";
}

$("password-form").onsubmit = async (e) => {
  e.preventDefault();
  $("password-error").textContent = "";
  if ($("pw-new").value !== $("pw-again").value) {
    $("password-error").textContent = "The new passwords differ.";
    return;
  }
  try {
    await api("api/v1/auth/password", { method: "POST", body: { current: $("pw-current").value, new: $("pw-new").value } });
    e.target.reset();
    toast("Password changed; your other logins have ended");
    state.passwordChanged = true;
    await loadMe();
  } catch (err) {
    if (!(err.login)) $("password-error").textContent = err.message;
  }
};

// Users.
async function loadUsers() {
  const users = await api("api/v1/users");
  state.users = users;
  $("users").tBodies[0].replaceChildren(...users.map(userRow));
}

function userRow(u) {
  const tr = el("tr", { className: u.disabled ? "off" : "", dataset: { name: u.name } });
  if (u.read_only) {
    tr.append(td(u.name), td(u.role), td(u.team || ""), td(tag("configuration file", "ro")), td(String(u.logins)), td("—"), td());
    return tr;
  }
  const role = roleSelect(el("select", { className: "role", title: "Role" }), u.role);
  role.onchange = () => change(u, { role: role.value }, `${u.name} is now ${role.value}`);
  const team = el("input", { className: "team", value: u.team || "", placeholder: "(none)", size: 10 });
  team.onchange = () => change(u, { team: team.value }, `${u.name}'s team changed`);
  tr.append(td(u.name, " ", u.disabled ? tag("disabled", "disabled") : null), td(role), td(team), td(tag("made here")), td(String(u.logins)),
    td(when(u.password_changed_at)),
    td(
      action(u.disabled ? "Enable" : "Disable", () => change(u, { disabled: !u.disabled }, `${u.name} ${u.disabled ? "enabled" : "disabled"}`)),
      " ",
      action("Reset password", async () => {
        const pw = prompt(`New password for ${u.name}:`);
        if (pw) await change(u, { password: pw }, `${u.name}'s password was reset; their logins have ended`);
      }),
      " ",
      action("Delete", async () => {
        await api(`api/v1/users/${encodeURIComponent(u.name)}`, { method: "DELETE" });
        toast(`${u.name} deleted`);
        await loadUsers();
      }, { danger: true, confirmText: `Delete ${u.name}? Their logins end at once.` }),
    ));
  return tr;
}

async function change(u, fields, done) {
  try {
    await api(`api/v1/users/${encodeURIComponent(u.name)}`, { method: "PATCH", body: fields });
    toast(done);
  } catch (err) {
    if (!(err.login)) toast(err.message);
  }
  await loadUsers();
}

$("user-form").onsubmit = async (e) => {
  e.preventDefault();
  $("user-error").textContent = "";
  try {
    const u = await api("api/v1/users", { method: "POST", body: { name: $("nu-name").value, role: $("nu-role").value, team: $("nu-team").value, password: $("nu-password").value } });
    e.target.reset();
    toast(`${u.name} made`);
    await loadUsers();
  } catch (err) {
    if (!(err.login)) $("user-error").textContent = err.message;
  }
};

// API tokens.
async function loadTokens() {
  const tokens = await api("api/v1/tokens");
  $("tokens").tBodies[0].replaceChildren(...tokens.map((t) => el("tr", { className: t.revoked_at ? "off" : "", dataset: { id: t.id } },
    td(t.name), td(t.role), td(t.team || ""), td(t.read_only ? tag("configuration file", "ro") : when(t.created_at)),
    td(t.expires_at ? when(t.expires_at) : "never"), td(t.read_only ? "—" : when(t.last_used_at)),
    td(t.revoked_at ? tag("revoked " + when(t.revoked_at), "revoked") : tag("active")),
    td(t.read_only || t.revoked_at ? null : action("Revoke", async () => {
      await api(`api/v1/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE" });
      toast(`${t.name} revoked`);
      await loadTokens();
    }, { danger: true, confirmText: `Revoke ${t.name}? Scripts using it stop at once.` })))));
}

$("token-form").onsubmit = async (e) => {
  e.preventDefault();
  $("token-error").textContent = "";
  try {
    const t = await api("api/v1/tokens", { method: "POST", body: { name: $("nt-name").value, role: $("nt-role").value, team: $("nt-team").value, expires_in_days: Number($("nt-days").value) || 0 } });
    $("new-token").hidden = false;
    $("new-token-value").textContent = t.token;
    e.target.reset();
    await loadTokens();
  } catch (err) {
    if (!(err.login)) $("token-error").textContent = err.message;
  }
};

// Everybody's logins.
async function loadLogins() {
  const logins = await api("api/v1/auth/sessions?all=true");
  $("logins").tBodies[0].replaceChildren(...logins.map((l) => el("tr", { dataset: { id: l.id, user: l.user } },
    td(l.user, " ", l.current ? tag("this browser", "current") : null), td(l.role + (l.team ? " · " + l.team : "")), td(l.remote_addr),
    td(when(l.created_at)), td(when(l.last_seen_at)), td(tag(l.source)),
    td(l.current ? null : action("End", async () => {
      await api(`api/v1/auth/sessions/${encodeURIComponent(l.id)}`, { method: "DELETE" });
      toast(`${l.user}'s login ended`);
      await loadLogins();
    }, { danger: true })))));
}

// The audit log.
function auditQuery() {
  const q = new URLSearchParams();
  if ($("au-user").value) q.set("user", $("au-user").value);
  if ($("au-kind").value) q.set("kind", $("au-kind").value);
  for (const [k, id] of [["from", "au-from"], ["to", "au-to"]]) if ($(id).value) q.set(k, new Date($(id).value).toISOString());
  return q;
}

async function loadAudit() {
  const q = auditQuery();
  const csv = new URLSearchParams(q);
  csv.set("format", "csv");
  csv.set("limit", "10000");
  $("audit-csv").href = `api/v1/audit?${csv}`;
  const rows = await api(`api/v1/audit?${q}`);
  state.audit = rows;
  $("audit").tBodies[0].replaceChildren(...rows.map((e) => el("tr", { dataset: { action: e.action } },
    td(when(e.time)), td(e.actor), td(e.action), td([e.object_type, e.object_id].filter(Boolean).join(" ")), td(e.remote_addr || ""),
    el("td", { className: "detail", textContent: e.detail ? JSON.stringify(e.detail) : "" }))));
  $("audit-count").textContent = rows.length === 500 ? "The newest 500 rows; narrow the filter, or download the CSV for up to 10,000." : `${rows.length} rows`;
}
$("audit-form").onsubmit = (e) => {
  e.preventDefault();
  loadAudit().catch((err) => err.login || toast(err.message));
};

async function boot() {
  state.user = await login.start();
  if (!state.user) return;
  const admin = state.user.permissions.includes("accounts");
  for (const b of document.querySelectorAll("[data-admin]")) b.hidden = !admin;
  roleSelect($("nu-role"), "field");
  roleSelect($("nt-role"), "planner");
  $("rules").textContent = "Passwords: at least the configured length (10 by default), not containing the user name, not a common password or one with digits added.";
  await openTab(location.hash.slice(1) || "me");
  state.ready = true;
}

boot().catch((err) => {
  state.ready = "error";
  toast(err.message);
});
