// smarteye supervision: the list of sessions (and, for supervisors, a form
// to schedule one) at /sessions; one session at /sessions?id=…. While it is
// live the page is its room: the cameras live, the attendance curve, the
// remarks everyone in the room types (shared at once over server-sent
// events), the notifications. Once it has ended the page is its record: the
// recording on the replay page (framed), the remarks on its timeline (a
// click shows the video at that moment), the curve, the report and the
// audit log.
import { api } from "./api.js";
import { briefRefusal, loginFlow } from "./auth.js";
import { esc } from "./escape.js";
import { Player } from "./player.js";
import "./tile.css";
import "./session.css";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const ATTENDANCE_REFRESH_MS = 5000;

// State, exposed for scripts and the browser tests.
const state = {
  me: null, session: null, remarks: [], notices: [], present: null, attendance: null,
  // remarkSeen[id] = Date.now() when the remark reached this page.
  remarkSeen: {}, players: [], cameras: new Map(), room: null, roomOpen: false, toasts: [],
};
globalThis.smarteyeSession = state;

const post = (url, method, body) => api(url, { method, body });

const fmtTime = (t) => new Date(t).toLocaleTimeString();
const fmtDate = (t) => new Date(t).toLocaleString();
const toLocalInput = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 19);

// Logging in (auth.js). After a first login the page starts; after one
// that follows an ended session it starts afresh (its feeds and timers
// were running).
const login = loginFlow({
  form: $("login"), refusal: briefRefusal,
  onShow: () => ($("list-view").hidden = $("session-view").hidden = true),
  onLoggedIn: () => (state.me ? location.reload() : start()),
});

// toast shows a notification on the page, and as a system notification
// when the browser allows it.
function toast(text, kind = "info") {
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.textContent = text;
  $("toasts").append(el);
  state.toasts.push({ text, kind, at: Date.now() });
  setTimeout(() => el.remove(), 12000);
  if (globalThis.Notification?.permission === "granted" && document.hidden) new Notification("smarteye", { body: text });
}

// Notifications from the live feed: every session event for a session the
// user is invited to (or manages), on whichever supervision page is open.
function listenForNotices() {
  let retry = 1000;
  const connect = () => {
    const ws = new WebSocket(new URL("api/v1/live?types=event", location.href).href.replace(/^http/, "ws"));
    ws.onopen = () => (retry = 1000);
    ws.onmessage = (m) => {
      let u;
      try { u = JSON.parse(m.data); } catch { return; }
      for (const x of Array.isArray(u) ? u : [u]) {
        const e = x.event;
        if (!e || !e.kind?.startsWith("session.")) continue;
        const d = e.data || {};
        if (!state.me?.permissions.includes("sessions") && !(d.invited || []).includes(state.me?.user)) continue;
        if (state.session && d.session === state.session.id) continue; // the room tells it
        toast(e.message || e.kind, e.kind === "session.camera.down" ? "warn" : "info");
        if (!state.session) loadList();
      }
    };
    ws.onclose = () => setTimeout(connect, (retry = Math.min(retry * 2, 30000)));
  };
  connect();
}

async function start() {
  try {
    state.me = await login.start();
  } catch {
    return;
  }
  if (!state.me) return;
  if (globalThis.Notification?.permission === "default") document.addEventListener("click", () => Notification.requestPermission(), { once: true });
  listenForNotices();
  if (params.get("id")) return openSession(params.get("id"));
  $("list-view").hidden = false;
  await loadList();
  if (state.me.permissions.includes("sessions")) await createForm();
}

// ---- the list ----

async function loadList() {
  const { sessions } = await api("api/v1/sessions");
  const body = $("sessions").tBodies[0];
  body.innerHTML = "";
  for (const s of sessions) {
    const tr = body.insertRow();
    tr.innerHTML = `<td>${esc(fmtDate(s.start))} – ${esc(fmtTime(s.end))}</td><td><a href="sessions?id=${encodeURIComponent(s.id)}">${esc(s.title)}</a></td>
      <td>${esc(s.kind)}</td><td><span class="state ${esc(s.state)}">${esc(s.state)}</span></td><td>${esc(s.cameras.join(", "))}</td><td>${esc(s.invited.join(", "))}</td>`;
  }
  $("no-sessions").hidden = sessions.length > 0;
}

async function createForm() {
  $("create-box").hidden = false;
  const f = $("create");
  const [{ sites }, { cameras }] = await Promise.all([api("api/v1/sites"), api("api/v1/cameras")]);
  f.site.innerHTML = sites.map((s) => `<option value="${esc(s.id)}">${esc(s.name || s.id)}</option>`).join("");
  $("camera-picks").innerHTML = cameras.map((c) => `<label><input type="checkbox" name="camera" value="${esc(c.id)}" /> ${esc(c.name || c.id)}</label>`).join("");
  f.zone_camera.innerHTML += cameras.map((c) => `<option value="${esc(c.id)}">${esc(c.name || c.id)}</option>`).join("");
  const now = Date.now();
  f.start.value = toLocalInput(now);
  f.end.value = toLocalInput(now + 3600e3);
  f.onsubmit = async (e) => {
    e.preventDefault();
    $("create-error").textContent = "";
    const picked = [...f.querySelectorAll("input[name=camera]:checked")].map((x) => x.value);
    const zoneCamera = f.zone_camera.value;
    if (zoneCamera && !picked.includes(zoneCamera)) picked.push(zoneCamera);
    let zone;
    if (zoneCamera) {
      zone = f.zone.value.trim().split(/\s+/).filter(Boolean).map((p) => p.split(",").map(Number));
      if (zone.length === 0) {
        // The whole picture of the zone camera.
        const c = cameras.find((x) => x.id === zoneCamera);
        const w = c?.stream?.width || 1920, h = c?.stream?.height || 1080;
        zone = [[0, 0], [w, 0], [w, h], [0, h]];
      }
    }
    try {
      const s = await post("api/v1/sessions", "POST", {
        title: f.title.value, kind: f.kind.value, site_id: f.site.value, cameras: picked,
        zone_camera: zoneCamera || undefined, zone, start: new Date(f.start.value).toISOString(), end: new Date(f.end.value).toISOString(),
        invited: f.invited.value.split(",").map((x) => x.trim()).filter(Boolean),
      });
      location.href = `sessions?id=${encodeURIComponent(s.id)}`;
    } catch (err) {
      $("create-error").textContent = err.message;
    }
  };
}

// ---- one session ----

async function openSession(id) {
  $("session-view").hidden = false;
  const v = await api(`api/v1/sessions/${encodeURIComponent(id)}`);
  state.session = v;
  state.remarks = v.remarks;
  for (const r of v.remarks) state.remarkSeen[r.id] = Date.now();
  state.present = v.present;
  document.title = `smarteye · ${v.title}`;
  await loadCameras();
  // The tiles' badges and messages follow the cameras' status.
  setInterval(() => state.session.state === "live" && loadCameras().catch(() => {}), 3000);
  header();
  showVideo();
  renderRemarks();
  renderPresence();
  $("remark-camera").innerHTML = v.cameras.map((c) => `<option>${esc(c)}</option>`).join("");
  remarkForm();
  await Promise.all([loadNotices(), loadAttendance(), loadAudit()]);
  openRoom();
  setInterval(() => state.session.state === "live" && loadAttendance(), ATTENDANCE_REFRESH_MS);
}

async function loadCameras() {
  const { cameras } = await api("api/v1/cameras");
  for (const c of cameras) state.cameras.set(c.id, { id: c.id, name: c.name, codec: c.stream?.codec, status: c.stream?.status, reason: c.stream?.reason });
}

function header() {
  const s = state.session;
  $("title").textContent = s.title;
  $("state").textContent = s.state;
  $("state").className = `state ${s.state}`;
  $("when").textContent = `${s.kind} · ${s.site_id} · ${fmtDate(s.from)} – ${fmtTime(s.to)}`;
  const a = $("actions");
  a.innerHTML = `<a href="api/v1/sessions/${encodeURIComponent(s.id)}/report.html" target="_blank">Report</a>
    <a href="api/v1/sessions/${encodeURIComponent(s.id)}/report.pdf" target="_blank">PDF</a>`;
  if (s.can_edit && s.state !== "ended") {
    const b = document.createElement("button");
    b.textContent = s.state === "scheduled" ? "Start now" : "End session";
    b.onclick = async () => {
      if (s.state === "live" && !confirm(`End “${s.title}” for everyone?`)) return;
      try {
        const ns = await post(`api/v1/sessions/${encodeURIComponent(s.id)}`, "PATCH", { state: s.state === "scheduled" ? "live" : "ended" });
        changed(ns);
      } catch (err) {
        if (!err.login) toast(err.message, "warn");
      }
    };
    a.prepend(b);
  }
  $("audit-box").hidden = !s.can_edit;
}

// changed applies a new version of the session (from the room or a PATCH).
function changed(ns) {
  const was = state.session.state;
  Object.assign(state.session, ns);
  const now = Date.now();
  state.session.from = ns.started_at && Date.parse(ns.started_at) < Date.parse(ns.start) ? ns.started_at : ns.start;
  state.session.to = ns.ended_at || (ns.state === "live" && now > Date.parse(ns.end) ? new Date(now).toISOString() : ns.end);
  header();
  remarkForm();
  if (was !== ns.state) {
    showVideo();
    loadAttendance();
    loadAudit();
  }
}

// remarkForm: supervisors remark on a live session at the moment they
// type, and on an ended one at the recording's moment.
function remarkForm() {
  const s = state.session;
  $("remark").hidden = !s.can_edit || s.state === "scheduled";
  $("remark-body").placeholder = s.state === "ended" ? "A remark, on the record at the recording's moment" : "A remark, on the record at this moment";
}

// showVideo: live tiles while the session is live, the recording (the
// replay page over the session's span) once it has ended, a notice before.
function showVideo() {
  const s = state.session;
  const box = $("videos");
  for (const p of state.players) p.close();
  state.players = [];
  box.innerHTML = "";
  box.className = s.state;
  if (s.state === "live") {
    for (const c of s.cameras) {
      const cell = document.createElement("div");
      cell.className = "cell";
      const tile = document.createElement("div");
      tile.className = "tile-box";
      cell.append(tile);
      box.append(cell);
      state.players.push(new Player(tile, c, state, { mode: params.get("video") || "auto" }));
    }
    box.dataset.count = String(Math.min(s.cameras.length, 4));
  } else if (s.state === "ended") {
    const f = document.createElement("iframe");
    f.id = "recording";
    f.title = "Recording";
    const q = new URLSearchParams({ from: new Date(s.from).toISOString(), to: new Date(s.to).toISOString() });
    f.src = `replay?${q}`;
    box.append(f);
  } else {
    box.innerHTML = `<p class="waiting">Scheduled for ${esc(fmtDate(s.start))}. The cameras appear here when it goes live${s.can_edit ? ", or start it now" : ""}.</p>`;
  }
}
state.loggedOut = (why) => login.ended(why);

// seekRecording shows the recording at t (a remark clicked).
function seekRecording(t) {
  const f = $("recording");
  const r = f?.contentWindow?.smarteyeReplay;
  if (!r?.setT) return false;
  r.pause?.();
  r.setT(Date.parse(t), true);
  return true;
}
state.seekRecording = seekRecording;

function renderRemarks() {
  const ol = $("remarks");
  ol.innerHTML = "";
  const s = state.session;
  for (const r of state.remarks) {
    const li = document.createElement("li");
    li.dataset.id = r.id;
    const offset = Math.round((Date.parse(r.at) - Date.parse(s.from)) / 1000);
    const clock = `${Math.floor(offset / 60)}:${String(Math.abs(offset % 60)).padStart(2, "0")}`;
    li.innerHTML = `<button class="at" title="Show the recording at this moment">${esc(fmtTime(r.at))} <span class="muted">+${clock}</span></button>
      <b>${esc(r.author)}</b>${r.camera_id ? ` <span class="muted">on ${esc(r.camera_id)}</span>` : ""}<div class="body">${esc(r.body)}</div>
      ${r.has_snapshot ? `<img loading="lazy" alt="snapshot" src="api/v1/sessions/${encodeURIComponent(s.id)}/remarks/${encodeURIComponent(r.id)}/snapshot.jpg" />` : ""}`;
    li.querySelector(".at").onclick = () => seekRecording(r.at) || toast("The recording is shown once the session has ended.");
    ol.append(li);
  }
  ol.lastElementChild?.scrollIntoView({ block: "nearest" });
  drawChart();
}

function renderPresence() {
  const p = state.present;
  $("present").textContent = p ? `${p.people.length} in the room: ${p.people.join(", ")}` : "";
}

function addNotice(e) {
  state.notices.push(e);
  const li = document.createElement("li");
  li.className = e.kind === "session.camera.down" ? "warn" : "";
  li.textContent = `${fmtTime(e.time)} ${e.message || e.kind}`;
  $("notices").append(li);
}

async function loadNotices() {
  const { notices } = await api(`api/v1/sessions/${encodeURIComponent(state.session.id)}/notices`);
  state.notices = [];
  $("notices").innerHTML = "";
  for (const e of notices) addNotice(e);
}

async function loadAudit() {
  if (!state.session.can_edit) return;
  const { audit } = await api(`api/v1/sessions/${encodeURIComponent(state.session.id)}/audit`);
  $("audit").innerHTML = audit.map((e) => `<li>${esc(fmtTime(e.time))} <b>${esc(e.actor)}</b> ${esc(e.action.replace(/^session\./, ""))}</li>`).join("");
}

async function loadAttendance() {
  state.attendance = await api(`api/v1/sessions/${encodeURIComponent(state.session.id)}/attendance`);
  drawChart();
}

// drawChart draws the attendance curve as steps, with the remarks as
// marks (a click on one shows the recording there).
function drawChart() {
  const a = state.attendance;
  const svg = $("chart");
  const W = 400, H = 120;
  if (!a || a.points.length === 0) {
    svg.innerHTML = `<text x="200" y="64" text-anchor="middle" class="empty">${a?.zone?.length ? "no one yet" : "no meeting zone"}</text>`;
    $("peak").textContent = "";
    $("chart-axis").textContent = "";
    return;
  }
  const from = Date.parse(a.from), to = Math.max(Date.parse(a.to), from + 1);
  const top = Math.max(a.peak, 1);
  const x = (t) => ((Date.parse(t) - from) / (to - from)) * W;
  const y = (n) => H - 4 - (n / top) * (H - 12);
  let d = "";
  a.points.forEach((p, i) => {
    const end = i + 1 < a.points.length ? x(a.points[i + 1].t) : W;
    d += `${i ? "L" : "M"}${x(p.t).toFixed(1)} ${y(p.people).toFixed(1)}L${end.toFixed(1)} ${y(p.people).toFixed(1)}`;
  });
  const marks = state.remarks.map((r) => `<line class="mark" data-id="${esc(r.id)}" x1="${x(r.at)}" x2="${x(r.at)}" y1="0" y2="${H}"><title>${esc(r.author)}: ${esc(r.body)}</title></line>`).join("");
  svg.innerHTML = `<path class="area" d="${d}L${W} ${H}L0 ${H}Z"/><path class="line" d="${d}"/>${marks}`;
  for (const m of svg.querySelectorAll(".mark")) {
    m.onclick = () => seekRecording(state.remarks.find((r) => String(r.id) === m.dataset.id).at);
  }
  $("peak").textContent = `peak ${a.peak} · per ${a.step_seconds} s`;
  $("chart-axis").innerHTML = `<span>${esc(fmtTime(a.from))}</span><span>${esc(fmtTime(a.to))}</span>`;
}

// openRoom joins the session's room: remarks, changes, notifications and
// presence as they happen. EventSource reconnects by itself; on reconnect
// the page reloads what it may have missed.
function openRoom() {
  const es = new EventSource(`api/v1/sessions/${encodeURIComponent(state.session.id)}/room`);
  state.room = es;
  let first = true;
  es.addEventListener("hello", (m) => {
    const h = JSON.parse(m.data);
    state.roomOpen = true;
    state.present = h.present;
    renderPresence();
    if (!first) {
      changed(h.session);
      api(`api/v1/sessions/${encodeURIComponent(state.session.id)}`).then((v) => {
        state.remarks = v.remarks;
        renderRemarks();
      });
      loadNotices();
    }
    first = false;
  });
  es.addEventListener("remark", (m) => {
    const r = JSON.parse(m.data);
    if (state.remarks.some((x) => x.id === r.id)) return;
    state.remarkSeen[r.id] = Date.now();
    state.remarks.push(r);
    state.remarks.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.id - b.id);
    renderRemarks();
  });
  es.addEventListener("session", (m) => changed(JSON.parse(m.data)));
  es.addEventListener("notice", (m) => {
    const e = JSON.parse(m.data);
    addNotice({ time: e.time, kind: e.kind, message: e.message, camera_id: e.camera_id });
    toast(e.message || e.kind, e.kind === "session.camera.down" ? "warn" : "info");
  });
  es.addEventListener("presence", (m) => {
    state.present = JSON.parse(m.data);
    renderPresence();
  });
  es.onerror = () => {
    state.roomOpen = false;
    if (es.readyState === EventSource.CLOSED) login.check();
  };
}

$("remark").onsubmit = async (e) => {
  e.preventDefault();
  $("remark-error").textContent = "";
  const body = $("remark-body").value.trim();
  if (!body) return;
  try {
    const replay = $("recording")?.contentWindow?.smarteyeReplay;
    const at = state.session.state === "ended" && replay?.loaded ? new Date(replay.t).toISOString() : undefined;
    const out = await post(`api/v1/sessions/${encodeURIComponent(state.session.id)}/remarks`, "POST", {
      body, at, camera_id: $("remark-snap").checked ? $("remark-camera").value : undefined, snapshot: $("remark-snap").checked,
    });
    $("remark-body").value = "";
    if (out.snapshot_missing) $("remark-error").textContent = "Kept without a snapshot: no analysed picture of that camera near this moment.";
    const r = out.remark;
    if (!state.remarks.some((x) => x.id === r.id)) {
      state.remarkSeen[r.id] = Date.now();
      state.remarks.push(r);
      renderRemarks();
    }
  } catch (err) {
    $("remark-error").textContent = err.message;
  }
};
$("remark-body").onkeydown = (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("remark").requestSubmit();
  }
};

start();
