// smarteye's field page: a team's open alerts, newest first, live, on a
// phone over a slow link — no map library: each alert brings a small SVG
// map and a thumbnail; distance and direction come from the phone's own
// position when the browser shares it. Acknowledge, resolve, dismiss, with
// a comment; a new alert beeps and vibrates.
import { api } from "./api.js";
import { briefRefusal, loginFlow } from "./auth.js";
import "./field.css";

const $ = (id) => document.getElementById(id);
const MAP_W = 320, MAP_H = 200, MAP_SCALE = 1; // as the server draws map.svg (pixels per metre)
const state = { user: null, team: "", alerts: new Map(), me: null, connected: false, ready: false, beeps: 0, vibrations: 0, shown: {} };
globalThis.smarteyeField = state; // for operators' scripts and the browser tests

// Logging in (auth.js): the login tap also allows sound from now on, so
// the page is not reloaded after it.
const login = loginFlow({
  form: $("login"), loggedIn: ["main", "logout"], refusal: briefRefusal,
  onLoggedIn: () => {
    audio();
    start().catch(() => login.show());
  },
});

// Sound needs a user gesture first; the login tap or the button gives it.
let ctx = null;
function audio() {
  try {
    ctx ??= new AudioContext();
    ctx.resume();
    $("sound").hidden = true;
  } catch {}
}
$("sound").onclick = audio;
function alarm() {
  state.beeps++;
  if (ctx?.state === "running") {
    for (const [at, f] of [[0, 880], [0.25, 660], [0.5, 880]]) {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.2, ctx.currentTime + at);
      g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + at + 0.2);
      o.connect(g).connect(ctx.destination);
      o.start(ctx.currentTime + at);
      o.stop(ctx.currentTime + at + 0.22);
    }
  } else {
    $("sound").hidden = false;
  }
  if (navigator.vibrate?.([300, 120, 300])) state.vibrations++;
}

async function start() {
  const user = await login.start();
  if (!user) return;
  state.user = user;
  state.team = new URLSearchParams(location.search).get("team") ?? state.user.team ?? "";
  $("team").textContent = `${state.user.user} · ${state.team ? "team " + state.team : "all teams"}`;
  if (!ctx) $("sound").hidden = false;
  locate();
  connect();
  await load();
  state.ready = true;
}

async function load() {
  const q = new URLSearchParams({ status: "open,acknowledged", limit: "50" });
  if (state.team) q.set("team", state.team);
  const alerts = await api(`api/v1/alerts?${q}`).catch(() => null);
  if (!alerts) return;
  for (const a of alerts.reverse()) upsert(a, false);
  render(); // also when there are none: the page says so
}

// The live feed carries only this team's alerts: a few hundred bytes each.
// One feed at a time: it stops while the login form is shown and starts
// again with the next login.
let backoff = 1000, socket = null, retry = 0;
function connect() {
  clearTimeout(retry);
  if (socket) return;
  const q = new URLSearchParams({ types: "alert", batch: "1" });
  if (state.team) q.set("team", state.team);
  const ws = (socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${location.pathname.replace(/field\/?$/, "")}api/v1/live?${q}`));
  ws.onopen = () => {
    state.connected = true;
    backoff = 1000;
    $("link").classList.add("on");
    $("banner").hidden = true;
    load(); // what happened while we were away
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    for (const u of Array.isArray(msg) ? msg : [msg]) if (u.type === "alert") upsert(u.alert, true);
  };
  ws.onclose = () => {
    socket = null;
    state.connected = false;
    $("link").classList.remove("on");
    if (login.shown) return; // logged out: no reconnecting
    $("banner").hidden = false;
    login.check();
    retry = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 30000);
  };
}

// upsert shows an alert's latest state; closed alerts leave the list.
function upsert(a, live) {
  const old = state.alerts.get(a.id);
  if (old && new Date(old.updated_at) > new Date(a.updated_at)) return;
  if (a.status === "resolved" || a.status === "dismissed") {
    state.alerts.delete(a.id);
    old?.el.remove();
    render();
    return;
  }
  const el = old?.el ?? card(a);
  state.alerts.set(a.id, { ...a, el });
  fill(el, a);
  if (!old) {
    $("alerts").prepend(el); // newest first
    if (live && a.status === "open") {
      el.classList.add("new");
      alarm();
    }
    if (live) state.shown[a.id] = Date.now();
  }
  render();
}

function render() {
  $("empty").hidden = state.alerts.size > 0;
  document.title = state.alerts.size ? `(${state.alerts.size}) smarteye · field alerts` : "smarteye · field alerts";
  for (const a of state.alerts.values()) distance(a);
}

function card(a) {
  const el = $("card").content.firstElementChild.cloneNode(true);
  el.dataset.id = a.id;
  el.dataset.rule = a.rule_id;
  if (a.snapshot) {
    const img = el.querySelector(".snap");
    img.src = `api/v1/alerts/${a.id}/snapshot.jpg?size=thumb`;
    img.hidden = false;
    img.onclick = () => window.open(`api/v1/alerts/${a.id}/snapshot.jpg`, "_blank");
  }
  if (a.lat != null) {
    const m = el.querySelector(".map");
    m.querySelector("img").src = `api/v1/alerts/${a.id}/map.svg`;
    m.hidden = false;
  }
  const act = (step) => async () => {
    const err = el.querySelector(".error");
    err.textContent = "";
    el.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      const next = await api(`api/v1/alerts/${encodeURIComponent(a.id)}/${step}`, { method: "POST", body: { comment: el.querySelector(".comment").value } });
      el.querySelector(".comment").value = "";
      upsert(next, false);
    } catch (e) {
      err.textContent = `Not sent: ${e.message}`;
    } finally {
      el.querySelectorAll("button").forEach((b) => (b.disabled = false));
    }
  };
  el.querySelector(".ack").onclick = act("ack");
  el.querySelector(".resolve").onclick = act("resolve");
  el.querySelector(".dismiss").onclick = act("dismiss");
  return el;
}

function fill(el, a) {
  el.className = `alert ${a.severity}`;
  el.querySelector(".sev").textContent = a.severity;
  el.querySelector(".title").textContent = a.title;
  const t = el.querySelector("time");
  t.dateTime = a.event_time;
  t.textContent = new Date(a.event_time).toLocaleTimeString();
  let msg = a.message || "";
  if (a.occurrences > 1) msg += ` (${a.occurrences} times)`;
  el.querySelector(".msg").textContent = msg;
  const who = a.actor && !a.actor.startsWith("rule:") ? ` by ${a.actor}${a.comment ? ` — “${a.comment}”` : ""}` : "";
  const esc = a.escalated_team ? ` · escalated to ${a.escalated_team}` : "";
  el.querySelector(".state").textContent = `${a.status}${who}${esc}${a.camera_id ? ` · camera ${a.camera_id}` : ""}${a.vehicle_id ? ` · ${a.vehicle_id}` : ""}`;
  el.querySelector(".ack").hidden = a.status !== "open";
  el.querySelector(".resolve").hidden = a.status !== "acknowledged";
}

// Where the phone is: distance and direction to each alert, and a dot on
// its small map when it is inside it.
let located = false;
function locate() {
  if (!navigator.geolocation || located) return;
  located = true;
  navigator.geolocation.watchPosition(
    (p) => {
      state.me = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy };
      $("where").textContent = `Your position ±${Math.round(p.coords.accuracy)} m`;
      render();
    },
    () => ($("where").textContent = "Share your location to see how far each alert is."),
    { enableHighAccuracy: true, maximumAge: 5000 },
  );
}

const R = 6371008.8;
const rad = (d) => (d * Math.PI) / 180;
function distance(a) {
  const p = a.el.querySelector(".dist");
  if (!state.me || a.lat == null) return (p.hidden = true);
  const φ1 = rad(state.me.lat), φ2 = rad(a.lat), dφ = φ2 - φ1, dλ = rad(a.lon - state.me.lon);
  const h = Math.sin(dφ / 2) ** 2 + Math.cos(φ1) * Math.cos(φ2) * Math.sin(dλ / 2) ** 2;
  const d = 2 * R * Math.asin(Math.sqrt(h));
  const brg = (Math.atan2(Math.sin(dλ) * Math.cos(φ2), Math.cos(φ1) * Math.sin(φ2) - Math.sin(φ1) * Math.cos(φ2) * Math.cos(dλ)) * 180) / Math.PI;
  const b = (brg + 360) % 360;
  const compass = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"][Math.round(b / 45) % 8];
  p.hidden = false;
  p.querySelector(".arrow").style.transform = `rotate(${b}deg)`;
  p.querySelector(".text").textContent = `${d < 1000 ? Math.round(d) + " m" : (d / 1000).toFixed(1) + " km"} ${compass}`;
  a.distance = d;
  a.bearing = b;
  // The phone on the small map (same projection as map.svg).
  const me = a.el.querySelector(".me");
  const x = (state.me.lon - a.lon) * 111320 * Math.cos(rad(a.lat)) * MAP_SCALE + MAP_W / 2;
  const y = MAP_H / 2 - (state.me.lat - a.lat) * 111132 * MAP_SCALE;
  me.hidden = !(x >= 0 && x <= MAP_W && y >= 0 && y <= MAP_H);
  me.style.left = `${(100 * x) / MAP_W}%`;
  me.style.top = `${(100 * y) / MAP_H}%`;
}

setInterval(() => state.alerts.size && render(), 30000);
start().catch(() => login.show());
