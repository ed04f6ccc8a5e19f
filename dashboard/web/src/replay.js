// smarteye replay: a site's history on one time slider. The map shows the
// state at t (vehicles with heading and trail, detections, events, camera
// footprints), the video tiles play the recordings at t in sync, and the
// timeline marks events, alerts and what was recorded. The range and the
// moment are in the URL (?from=&to=&t=), so a link shares a moment.
import { Map, Marker, setWorkerUrl } from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?worker&url";
import { api, onUnauthorized, sitesOr401 } from "./api.js";
import { esc } from "./escape.js";
import "./replay.css";

setWorkerUrl(workerUrl);

const TRAIL_MS = 2 * 60 * 1000; // trails: the two minutes before t
const DETECTION_MS = 2000; // detections shown: the two seconds before t
const EVENT_MS = 15000; // events shown on the map: the fifteen seconds before t
const BUFFER_S = 90; // recorded video kept in a tile's buffer around t

const $ = (id) => document.getElementById(id);
const empty = () => ({ type: "FeatureCollection", features: [] });
const params = new URLSearchParams(location.search);

// State, exposed for scripts and the browser tests.
const state = {
  ready: false, loaded: false, error: null, from: 0, to: 0, t: 0, playing: false, speed: 1,
  tracks: new globalThis.Map(), footprints: new globalThis.Map(), events: [], alerts: [], cameras: [], tiles: new globalThis.Map(),
  det: { t: [], camera: [], track: [], class: [], lat: [], lon: [] },
  // vehiclesAt[id] = {lat, lon, heading} at t; footprintsAt[camera] = the
  // drone camera's ground ring at t; seeks: ms from a slider
  // release to the first frame shown, per tile.
  vehiclesAt: {}, footprintsAt: {}, seeks: [], bytes: 0,
};
globalThis.smarteyeReplay = state;

// Replay has no login form of its own: a page without a login (or whose
// login ended) points to the command centre's.
onUnauthorized(() => {
  $("login-needed").hidden = false;
});

const iso = (ms) => new Date(ms).toISOString();
// datetime-local inputs are in the browser's time zone.
const toLocalInput = (ms) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
};
const fromLocalInput = (s) => new Date(s).getTime();

// lower finds the first index with a[i] >= x.
function lower(a, x) {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

let map;

async function boot() {
  const now = Date.now();
  state.to = params.get("to") ? Date.parse(params.get("to")) : now;
  state.from = params.get("from") ? Date.parse(params.get("from")) : state.to - 3600 * 1000;
  state.t = params.get("t") ? Date.parse(params.get("t")) : state.from;
  $("from").value = toLocalInput(state.from);
  $("to").value = toLocalInput(state.to);
  $("range").onsubmit = (e) => {
    e.preventDefault();
    const u = new URL(location.href);
    u.search = new URLSearchParams({ from: iso(fromLocalInput($("from").value)), to: iso(fromLocalInput($("to").value)) }).toString();
    location.href = u.toString();
  };
  const sites = await sitesOr401();
  if (!sites) {
    state.ready = "login";
    return;
  }
  const site = sites[0];
  map = new Map({
    container: "map", center: site ? [site.lon, site.lat] : [0, 0], zoom: site ? 16.4 : 2, pitch: 45, bearing: -20, attributionControl: false,
    style: { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#1b222c" } }] },
  });
  state.map = map;
  await new Promise((resolve) => map.on("load", resolve));
  map.addSource("buildings", { type: "geojson", data: site?.model ? site.model.replace(/^\//, "") : empty() });
  map.addLayer({ id: "buildings", type: "fill-extrusion", source: "buildings", paint: { "fill-extrusion-color": "#4a5a70", "fill-extrusion-height": ["coalesce", ["get", "height"], 10], "fill-extrusion-opacity": 0.7 } });
  map.addSource("geofences", { type: "geojson", data: "api/v1/geofences" });
  map.addLayer({ id: "geofences", type: "line", source: "geofences", paint: { "line-color": "#ff8a65", "line-width": 2 } });
  for (const [id, colour, opacity] of [["footprints", "#7fb4ff", 0.12]]) {
    map.addSource(id, { type: "geojson", data: empty() });
    map.addLayer({ id, type: "fill", source: id, paint: { "fill-color": colour, "fill-opacity": opacity } });
  }
  map.addSource("tracks", { type: "geojson", data: empty() });
  map.addLayer({ id: "tracks", type: "line", source: "tracks", paint: { "line-color": "#00e5ff", "line-width": 1, "line-opacity": 0.25 } });
  map.addSource("trails", { type: "geojson", data: empty() });
  map.addLayer({ id: "trails", type: "line", source: "trails", paint: { "line-color": "#00e5ff", "line-width": 3, "line-opacity": 0.8 } });
  map.addSource("detections", { type: "geojson", data: empty() });
  map.addLayer({ id: "detections", type: "circle", source: "detections", paint: { "circle-radius": 5, "circle-color": "#ffee58", "circle-stroke-color": "#000", "circle-stroke-width": 1 } });
  map.addSource("events", { type: "geojson", data: empty() });
  map.addLayer({ id: "events", type: "circle", source: "events", paint: { "circle-radius": 9, "circle-color": "#ff7043", "circle-opacity": 0.5, "circle-stroke-color": "#ff7043", "circle-stroke-width": 2 } });
  wireControls();
  state.ready = true;
  await load();
}

// load streams the replay of the range (NDJSON) and shows its progress.
async function load() {
  const url = `api/v1/replay?from=${iso(state.from)}&to=${iso(state.to)}`;
  $("loading").textContent = "loading…";
  let r;
  try {
    r = await api(url, { raw: true });
  } catch (err) {
    state.error = err.status ? `${err.status} ${err.message}` : err.message;
    $("loading").textContent = `replay failed: ${state.error}`;
    return;
  }
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let rest = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    state.bytes += value.length;
    rest += dec.decode(value, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop();
    for (const l of lines) if (l) line(JSON.parse(l));
    $("loading").textContent = `loading… ${state.events.length} events, ${state.det.t.length} detections (${Math.round(state.bytes / 1024)} kB)`;
  }
  if (rest) line(JSON.parse(rest));
  state.events.sort((a, b) => a.ms - b.ms);
  $("loading").textContent = `${state.tracks.size} vehicles, ${state.events.length} events, ${state.alerts.length} alerts, ${state.det.t.length} detections`;
  map.getSource("tracks").setData({
    type: "FeatureCollection",
    features: [...state.tracks.values()].map((tr) => ({ type: "Feature", properties: { id: tr.vehicle_id }, geometry: { type: "LineString", coordinates: tr.t.map((_, i) => [tr.lon[i], tr.lat[i]]) } })),
  });
  drawMarks();
  if (!params.get("t")) {
    // Open where something happened: the first activity in the range (a
    // range where everything happened in its last minutes would
    // otherwise open on an empty map), a few seconds before it.
    const first = Math.min(...[...state.tracks.values()].map((tr) => tr.t[0] ?? Infinity), state.events[0]?.ms ?? Infinity,
      ...state.alerts.map((a) => a.ms), state.det.t.length ? Math.min(...state.det.t.slice(0, 1000)) : Infinity);
    if (Number.isFinite(first)) state.t = Math.max(state.from, first - 5000);
  }
  state.loaded = true;
  setT(state.t, true);
}

function line(m) {
  switch (m.type) {
    case "range":
      state.cameras = m.cameras;
      for (const c of m.cameras) if (c.segments.length > 0) addTile(c);
      break;
    case "track":
      state.tracks.set(m.vehicle_id, m);
      break;
    case "footprints":
      state.footprints.set(m.camera, m);
      break;
    case "events":
      for (const e of m.items) state.events.push({ ...e, ms: Date.parse(e.time) });
      break;
    case "alerts":
      state.alerts = m.items.map((a) => ({ ...a, ms: Date.parse(a.event_time) }));
      break;
    case "detections":
      for (const k of ["t", "camera", "track", "class", "lat", "lon"]) state.det[k].push(...m[k]);
      break;
    case "error":
      state.error = m.error;
      break;
    case "end":
      state.truncated = m.truncated;
      break;
  }
}

// Events worth jumping to (tracks starting and ending are too many).
const notable = (e) => !e.kind.startsWith("track.");

function wireControls() {
  const slider = $("slider");
  slider.max = String(state.to - state.from);
  slider.oninput = () => setT(state.from + Number(slider.value), false);
  slider.onchange = () => setT(state.from + Number(slider.value), true);
  $("play").onclick = () => (state.playing ? pause() : play());
  $("speed").onchange = () => {
    state.speed = Number($("speed").value);
  };
  const jump = (dir) => {
    const list = [...state.events.filter(notable), ...state.alerts].sort((a, b) => a.ms - b.ms);
    const e = dir > 0 ? list.find((x) => x.ms > state.t + 500) : list.findLast((x) => x.ms < state.t - 500);
    if (!e) {
      $("event-at").textContent = dir > 0 ? "no later event" : "no earlier event";
      return;
    }
    setT(e.ms, true);
    $("event-at").textContent = `${new Date(e.ms).toLocaleTimeString()} ${e.title || e.message || e.kind}`;
  };
  $("prev").onclick = () => jump(-1);
  $("next").onclick = () => jump(1);
  state.jump = jump;
  $("share").onclick = async () => {
    const link = shareLink();
    history.replaceState(null, "", link);
    try {
      await navigator.clipboard.writeText(link);
      $("event-at").textContent = "link copied";
    } catch {
      $("event-at").textContent = link;
    }
  };
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === " ") { e.preventDefault(); state.playing ? pause() : play(); }
    if (e.key === ",") jump(-1);
    if (e.key === ".") jump(1);
  });
  window.addEventListener("resize", drawMarks);
}

function shareLink() {
  const u = new URL(location.href);
  u.search = new URLSearchParams({ from: iso(state.from), to: iso(state.to), t: iso(state.t) }).toString();
  return u.toString();
}
state.shareLink = shareLink;

function play() {
  if (state.t >= state.to) setT(state.from, true);
  state.playing = true;
  $("play").textContent = "❚❚";
  let last = performance.now();
  const step = (now) => {
    if (!state.playing) return;
    const next = state.t + (now - last) * state.speed;
    last = now;
    if (next >= state.to) {
      setT(state.to, true);
      pause();
      return;
    }
    setT(next, false);
    requestAnimationFrame(step);
  };
  for (const tile of state.tiles.values()) syncTile(tile, true);
  requestAnimationFrame(step);
}

function pause() {
  state.playing = false;
  $("play").textContent = "▶";
  for (const tile of state.tiles.values()) tile.video.pause();
}
state.play = play;
state.pause = pause;

// setT shows the state at t; seek moves the videos there at once (a
// release of the slider, a jump), otherwise they follow within a margin.
function setT(t, seek) {
  state.t = Math.round(Math.min(Math.max(t, state.from), state.to));
  $("slider").value = String(Math.round(state.t - state.from));
  $("clock").textContent = `${new Date(state.t).toLocaleString()} · ${state.speed}×`;
  drawMap();
  const t0 = performance.now();
  for (const tile of state.tiles.values()) syncTile(tile, seek, seek ? t0 : 0);
  drawCursor();
}
state.setT = setT;

// vehicleAt interpolates a track at t (null outside it).
function vehicleAt(tr, t) {
  const i = lower(tr.t, t);
  if (i >= tr.t.length || (i === 0 && tr.t[0] > t)) {
    return i === tr.t.length && tr.t.length > 0 && t - tr.t[tr.t.length - 1] < 5000 ? point(tr, tr.t.length - 1) : null;
  }
  if (tr.t[i] === t || i === 0) return point(tr, i);
  const a = point(tr, i - 1), b = point(tr, i);
  if (tr.t[i] - tr.t[i - 1] > 30000) return a; // a gap in the telemetry: stay put
  const f = (t - tr.t[i - 1]) / (tr.t[i] - tr.t[i - 1]);
  return { lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f, heading: a.heading, alt: a.alt, speed: a.speed };
}
const point = (tr, i) => ({ lat: tr.lat[i], lon: tr.lon[i], heading: tr.heading[i], alt: tr.alt[i], speed: tr.speed[i] });

const markers = new globalThis.Map();

function drawMap() {
  if (!map) return;
  const t = state.t;
  const trails = [];
  state.vehiclesAt = {};
  for (const [id, tr] of state.tracks) {
    const v = vehicleAt(tr, t);
    let m = markers.get(id);
    if (!v) {
      m?.remove();
      markers.delete(id);
      continue;
    }
    state.vehiclesAt[id] = v;
    if (!m) {
      const el = document.createElement("div");
      el.className = "vehicle";
      el.dataset.id = id;
      el.innerHTML = `<svg viewBox="-11 -11 22 22" width="22" height="22"><path d="M0,-10 L7,8 L0,4 L-7,8 Z" fill="#00e5ff" stroke="#000"/></svg><div class="vlabel">${esc(id)}</div>`;
      m = new Marker({ element: el, rotationAlignment: "map" }).setLngLat([v.lon, v.lat]).addTo(map);
      markers.set(id, m);
    }
    m.setLngLat([v.lon, v.lat]);
    m.setRotation(v.heading ?? 0);
    const a = lower(tr.t, t - TRAIL_MS), z = lower(tr.t, t);
    const coords = [];
    for (let i = a; i < z; i++) coords.push([tr.lon[i], tr.lat[i]]);
    coords.push([v.lon, v.lat]);
    if (coords.length > 1) trails.push({ type: "Feature", properties: { id }, geometry: { type: "LineString", coordinates: coords } });
  }
  map.getSource("trails")?.setData({ type: "FeatureCollection", features: trails });
  // Fixed cameras' footprints stay; a drone camera's is the one recorded
  // at its last track point before t (none across a telemetry gap).
  const fps = state.cameras.filter((c) => c.footprint?.length > 2).map((c) => ({ type: "Feature", properties: { id: c.id }, geometry: { type: "Polygon", coordinates: [c.footprint] } }));
  state.footprintsAt = {};
  for (const [id, fp] of state.footprints) {
    const i = lower(fp.t, t + 1) - 1;
    if (i < 0 || !fp.rings[i] || fp.rings[i].length < 3) continue;
    const next = i + 1 < fp.t.length ? fp.t[i + 1] - fp.t[i] : 0;
    if (t - fp.t[i] > 5000 && !(next > 0 && next <= 30000)) continue;
    state.footprintsAt[id] = fp.rings[i];
    fps.push({ type: "Feature", properties: { id }, geometry: { type: "Polygon", coordinates: [fp.rings[i]] } });
  }
  map.getSource("footprints")?.setData({ type: "FeatureCollection", features: fps });
  const d = state.det;
  const dets = [];
  for (let i = lower(d.t, t - DETECTION_MS), z = lower(d.t, t + 1); i < z; i++) {
    dets.push({ type: "Feature", properties: { camera: d.camera[i], track: d.track[i], class: d.class[i] }, geometry: { type: "Point", coordinates: [d.lon[i], d.lat[i]] } });
  }
  map.getSource("detections")?.setData({ type: "FeatureCollection", features: dets });
  const evs = [];
  for (const e of state.events) {
    if (e.ms > t) break;
    if (e.ms >= t - EVENT_MS && e.lat != null && notable(e)) {
      evs.push({ type: "Feature", properties: { kind: e.kind }, geometry: { type: "Point", coordinates: [e.lon, e.lat] } });
    }
  }
  map.getSource("events")?.setData({ type: "FeatureCollection", features: evs });
}

// The timeline: events (ticks), alerts (red), recorded video per camera (bars).
const KIND_COLOURS = { zone: "#ce93d8", geofence: "#ff8a65", stream: "#90a4ae", link: "#90a4ae", battery: "#ffd54f", recording: "#e57373" };

function drawMarks() {
  const c = $("marks");
  const w = (c.width = c.clientWidth * devicePixelRatio);
  const h = (c.height = 44 * devicePixelRatio);
  const g = c.getContext("2d");
  g.clearRect(0, 0, w, h);
  const x = (ms) => ((ms - state.from) / (state.to - state.from)) * w;
  const cams = state.cameras.filter((cam) => cam.segments.length > 0);
  const barH = Math.min(5, 18 / Math.max(cams.length, 1)) * devicePixelRatio;
  cams.forEach((cam, i) => {
    g.fillStyle = "#43a047";
    for (const [a, z] of cam.segments) g.fillRect(x(a), h - (i + 1) * (barH + 1), Math.max(1, x(z) - x(a)), barH);
  });
  for (const e of state.events) {
    if (!notable(e)) continue;
    g.fillStyle = KIND_COLOURS[e.kind.split(".")[0]] || "#b0bec5";
    g.fillRect(x(e.ms), 4 * devicePixelRatio, 1.5 * devicePixelRatio, 12 * devicePixelRatio);
  }
  g.fillStyle = "#ff1744";
  for (const a of state.alerts) {
    const px = x(a.ms);
    g.beginPath();
    g.moveTo(px, 0);
    g.lineTo(px + 5 * devicePixelRatio, 0);
    g.lineTo(px, 9 * devicePixelRatio);
    g.lineTo(px - 5 * devicePixelRatio, 0);
    g.fill();
  }
  state.marksImage = g.getImageData(0, 0, w, h);
  drawCursor();
}

function drawCursor() {
  const c = $("marks");
  const g = c.getContext("2d");
  if (!state.marksImage) return;
  g.putImageData(state.marksImage, 0, 0);
  const px = ((state.t - state.from) / (state.to - state.from)) * c.width;
  g.fillStyle = "#fff";
  g.fillRect(px - 1, 0, 2, c.height);
}

// A video tile plays one camera's recordings through Media Source
// Extensions: each segment is fetched whole (init + media) when t reaches
// it, with timestampOffset putting media time 0 at the range's start.
function addTile(cam) {
  const el = document.createElement("div");
  el.className = "tile";
  el.dataset.camera = cam.id;
  el.innerHTML = `<video muted playsinline></video><span class="name"></span><div class="gap" hidden>no recording at this time</div>`;
  el.querySelector(".name").textContent = cam.name || cam.id;
  $("tiles").append(el);
  const tile = { id: cam.id, el, video: el.querySelector("video"), segs: [], appended: new globalThis.Map(), queue: Promise.resolve(), shown: null };
  state.tiles.set(cam.id, tile);
  const ms = new MediaSource();
  tile.video.src = URL.createObjectURL(ms);
  tile.ready = new Promise((resolve) => ms.addEventListener("sourceopen", resolve, { once: true })).then(async () => {
    const list = await api(`api/v1/cameras/${encodeURIComponent(cam.id)}/recordings?from=${iso(state.from)}&to=${iso(state.to)}`);
    tile.segs = list.segments.map((s) => ({ ...s, a: Date.parse(s.start), z: Date.parse(s.end) }));
    const codec = list.segments[0]?.codec === "H265" ? "hvc1.1.6.L93.B0" : "avc1.42c01e";
    tile.sb = ms.addSourceBuffer(`video/mp4; codecs="${codec}"`);
    tile.sb.mode = "segments";
  });
}

function appendBuffer(sb, data) {
  return new Promise((resolve, reject) => {
    sb.addEventListener("updateend", resolve, { once: true });
    sb.addEventListener("error", reject, { once: true });
    sb.appendBuffer(data);
  });
}

// ensure appends segment s to the tile (once), evicting what is far from t.
function ensure(tile, s) {
  if (tile.appended.has(s.id)) return tile.appended.get(s.id);
  const p = (tile.queue = tile.queue.then(async () => {
    const [init, media] = await Promise.all([
      api(`api/v1/recordings/${encodeURIComponent(s.id)}/init.mp4`, { raw: true }).then((r) => r.arrayBuffer()),
      api(`api/v1/recordings/${encodeURIComponent(s.id)}/media.m4s`, { raw: true }).then((r) => r.arrayBuffer()),
    ]);
    const sb = tile.sb;
    const now = (state.t - state.from) / 1000;
    for (let i = 0; i < sb.buffered.length; i++) {
      const a = sb.buffered.start(i), z = sb.buffered.end(i);
      if (z < now - BUFFER_S || a > now + BUFFER_S) {
        await new Promise((resolve) => { sb.addEventListener("updateend", resolve, { once: true }); sb.remove(a, z); });
        break;
      }
    }
    for (const [id, other] of tile.appended) if (Math.abs(other.mid - state.t) > BUFFER_S * 1000) tile.appended.delete(id);
    sb.timestampOffset = -state.from / 1000;
    await appendBuffer(sb, init);
    await appendBuffer(sb, media);
  }).catch((err) => {
    tile.appended.delete(s.id);
    console.warn("replay video", tile.id, err);
  }));
  p.mid = (s.a + s.z) / 2;
  tile.appended.set(s.id, p);
  return p;
}

// syncTile keeps a tile's video at t: the segment at t (and the next one
// near its end) appended, the picture moved there when seeking or when it
// drifts, playing at the replay's speed.
async function syncTile(tile, seek, t0) {
  if (!tile.sb) await tile.ready.catch(() => {});
  if (!tile.sb) return;
  const t = state.t;
  const s = tile.segs.find((x) => x.a <= t && t < x.z);
  tile.el.querySelector(".gap").hidden = !!s;
  tile.el.dataset.segment = s ? s.id : "";
  if (!s) {
    tile.video.pause();
    return;
  }
  const next = tile.segs.find((x) => x.a >= s.z - 1000 && x.id !== s.id);
  if (next && t > s.z - 5000) ensure(tile, next);
  if (!tile.appended.has(s.id) || seek) await ensure(tile, s);
  const v = tile.video;
  const target = (state.t - state.from) / 1000;
  const margin = 0.4 * Math.max(1, state.speed / 4);
  if (seek && t0 && Math.abs(v.currentTime - target) < 0.001 && !v.seeking && v.readyState >= 2) {
    // Dragging already brought the frame at t on screen: no new frame
    // will come (and no frame callback), it is shown now.
    state.seeks.push({ camera: tile.id, ms: performance.now() - t0 });
  } else if (seek || Math.abs(v.currentTime - target) > margin) {
    v.currentTime = target;
    if (t0 && v.requestVideoFrameCallback) {
      v.requestVideoFrameCallback(() => state.seeks.push({ camera: tile.id, ms: performance.now() - t0 }));
    }
  }
  v.playbackRate = Math.min(state.speed, 16);
  if (state.playing && v.paused) v.play().catch(() => {});
  if (!state.playing && !v.paused) v.pause();
}

boot().catch((err) => {
  state.error = err.message;
  console.error(err);
  $("loading").textContent = `replay failed: ${err.message}`;
});
