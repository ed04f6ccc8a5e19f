// smarteye's command centre: the live map (the site's buildings in 3D,
// geofences, live vehicles with heading, trail and state, camera footprints,
// detections and the last hour's heat map) and the video wall, all from
// smarteye's own API — no remote tiles, glyphs or sprites (labels are HTML
// markers, so no glyphs are needed).
import { Map, Marker, addProtocol, setWorkerUrl } from "maplibre-gl";
import { PMTiles, Protocol } from "pmtiles";
import "maplibre-gl/dist/maplibre-gl.css";
// Vite drops MapLibre's worker unless it is bundled as one and handed over.
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?worker&url";
import "./style.css";
import { api } from "./api.js";
import { loginFlow } from "./auth.js";
import { CLASS_COLOURS, Player } from "./player.js";
import { Wall } from "./wall.js";
import { Control } from "./control.js";

setWorkerUrl(workerUrl);

const TRAIL_MS = 3 * 60 * 1000; // vehicle trails: the last three minutes
const DETECTION_MS = 60 * 1000; // detections fade out over a minute
const HEAT_MS = 60 * 60 * 1000; // the heat map: the last hour
const OVERLAY_KEEP_MS = 5000; // detection frames kept for the video overlays

// State, exposed for operators' scripts and the browser tests.
const state = {
  connected: false, vehicles: new globalThis.Map(), cameras: new globalThis.Map(), detections: [], events: [], site: null,
  // Per camera, the analysed frames of the last few seconds: {t (capture
  // time, Unix ms), width, height, objects}, oldest first.
  detectionFrames: new globalThis.Map(),
  user: null, ready: false, timing: {},
  // ?video=mse or ?video=webrtc pins the tiles' transport (default: auto).
  videoMode: new URLSearchParams(location.search).get("video") || "auto",
};
globalThis.smarteye = state;

const $ = (id) => document.getElementById(id);

// Logging in and out (auth.js). The session is an HttpOnly cookie: the
// page never sees it. A 401 from the API shows the form again; the live
// feed stops reconnecting then.
const login = loginFlow({ form: $("login-form"), overlay: $("login"), loggedIn: ["user"], onShow: () => state.wall?.hide() });
state.loggedOut = (why) => login.ended(why);
state.checkLogin = () => login.check();

async function boot() {
  state.user = await login.start();
  if (!state.user) {
    $("site").textContent = "";
    state.ready = "login";
    return;
  }
  await start();
}

const empty = () => ({ type: "FeatureCollection", features: [] });

async function start() {
  const { sites } = await api("api/v1/sites");
  const site = sites[0];
  state.site = site || null;
  $("site").textContent = site ? `${site.name}${site.synthetic && !/synthetic/i.test(site.name) ? " (synthetic data)" : ""}` : "no site configured";
  const center = site ? [site.lon, site.lat] : [0, 0];

  const map = new Map({
    container: "map",
    center,
    zoom: site ? 16.2 : 2,
    pitch: 50,
    bearing: -20,
    attributionControl: false,
    style: {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#1b222c" } }],
    },
  });
  state.map = map;
  // An icon the style asks for and nobody supplied: a plain dot, never an error.
  map.setMissingStyleImageResolver?.(() => ({ width: 1, height: 1, data: new Uint8Array(4) }));

  await new Promise((resolve) => map.on("load", resolve));
  await addBasemap(map, site).catch((err) => console.warn("basemap:", err));

  map.addSource("buildings", { type: "geojson", data: site?.model ? site.model.replace(/^\//, "") : empty() });
  map.addLayer({
    id: "buildings",
    type: "fill-extrusion",
    source: "buildings",
    paint: {
      "fill-extrusion-color": "#5b6b82",
      "fill-extrusion-height": ["coalesce", ["get", "height"], 10],
      "fill-extrusion-base": ["coalesce", ["get", "min_height"], 0],
      "fill-extrusion-opacity": 0.85,
    },
  });

  map.addSource("geofences", { type: "geojson", data: "api/v1/geofences" });
  const fenceColour = ["match", ["get", "kind"], "keep-out", "#e53935", "keep-in", "#43a047", "#fb8c00"];
  map.addLayer({ id: "geofences-fill", type: "fill", source: "geofences", paint: { "fill-color": fenceColour, "fill-opacity": 0.18 } });
  map.addLayer({ id: "geofences-line", type: "line", source: "geofences", paint: { "line-color": fenceColour, "line-width": 2 } });

  map.addSource("footprints", { type: "geojson", data: empty() });
  map.addLayer({ id: "footprints", type: "fill", source: "footprints", paint: { "fill-color": "#7fb4ff", "fill-opacity": 0.12 } });
  map.addLayer({ id: "footprints-line", type: "line", source: "footprints", paint: { "line-color": "#7fb4ff", "line-width": 1.5, "line-dasharray": [2, 2] } });

  // The cameras' image zones, placed on the ground.
  map.addSource("zones", { type: "geojson", data: empty() });
  map.addLayer({ id: "zones", type: "fill", source: "zones", paint: { "fill-color": "#ce93d8", "fill-opacity": 0.2 } });
  map.addLayer({ id: "zones-line", type: "line", source: "zones", paint: { "line-color": "#ce93d8", "line-width": 1.5 } });

  // Where each moving drone will be in the next minute at its course and
  // speed, with the error cone growing along it (as the server predicts
  // breaches: 3 m + 15 % of the distance).
  map.addSource("projections", { type: "geojson", data: empty() });
  map.addLayer({ id: "projections-cone", type: "fill", source: "projections", filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#ffd54f", "fill-opacity": 0.08 } });
  map.addLayer({ id: "projections-line", type: "line", source: "projections", filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#ffd54f", "line-width": 1.5, "line-dasharray": [1, 2], "line-opacity": 0.7 } });
  map.addSource("trails", { type: "geojson", data: empty() });
  map.addLayer({ id: "trails", type: "line", source: "trails", paint: { "line-color": "#00e5ff", "line-width": 2, "line-opacity": 0.6 } });

  // The last hour's detections as a heat map, under the live ones.
  map.addSource("heat", { type: "geojson", data: empty() });
  map.addLayer({
    id: "heat",
    type: "heatmap",
    source: "heat",
    paint: {
      "heatmap-radius": ["interpolate", ["linear"], ["zoom"], 14, 8, 19, 40],
      "heatmap-intensity": 0.6,
      "heatmap-opacity": 0.55,
    },
  });
  const loadHeat = () => {
    const from = new Date(Date.now() - HEAT_MS).toISOString();
    api(`api/v1/geo/detections?from=${from}&limit=20000`)
      .then((fc) => {
        state.heat = fc.features.length;
        map.getSource("heat")?.setData(fc);
      })
      .catch((err) => console.warn("heat map:", err.message));
  };
  loadHeat();
  setInterval(loadHeat, 60000);
  $("heat").onclick = () => {
    const on = map.getLayoutProperty("heat", "visibility") !== "none";
    map.setLayoutProperty("heat", "visibility", on ? "none" : "visible");
    $("heat").classList.toggle("on", !on);
  };

  map.addSource("detections", { type: "geojson", data: empty() });
  map.addLayer({
    id: "detections",
    type: "circle",
    source: "detections",
    paint: {
      "circle-radius": 5,
      "circle-color": ["coalesce", ["get", "colour"], "#ffb000"],
      "circle-opacity": ["get", "opacity"],
      "circle-stroke-color": "#000",
      "circle-stroke-width": 1,
    },
  });

  // Arrows follow the map's rotation.
  map.on("rotate", () => {
    for (const e of state.vehicles.values()) e.el.querySelector("svg").style.transform = `rotate(${(e.heading ?? 0) - map.getBearing()}deg)`;
  });
  // Flying the drones: the vehicle panel's commands, go-to and patrol
  // picked on the map, the mission drawn.
  state.control = new Control(state, map);

  // A camera's footprint opens its panel, with its live video (not while
  // a go-to or a patrol is being picked on the map).
  map.on("click", "footprints", (e) => {
    if (state.control.pick) return;
    const id = e.features[0]?.properties?.camera;
    if (id) showCamera(id);
  });
  map.on("mouseenter", "footprints", () => (map.getCanvas().style.cursor = "pointer"));
  map.on("mouseleave", "footprints", () => (map.getCanvas().style.cursor = ""));
  connect(map);
  loadAlerts(map).catch((err) => console.warn("alerts:", err));
  setInterval(() => redraw(map), 1000);
  $("close").onclick = closePanel;

  state.wall = new Wall($("wall"), state);
  const view = (name) => {
    $("tab-map").classList.toggle("on", name === "map");
    $("tab-wall").classList.toggle("on", name === "wall");
    $("wall").hidden = name !== "wall";
    // The wall covers the map: the map is neither painted nor redrawn
    // under it (in a browser without a GPU that paint cost the wall's
    // video its frames), and is brought up to date when shown again.
    state.view = name;
    document.body.classList.toggle("wall-view", name === "wall");
    $("map").style.visibility = name === "wall" ? "hidden" : "";
    if (name === "wall") {
      closePanel();
      state.wall.show();
    } else {
      state.wall.hide();
      map.resize();
      redraw(map);
    }
    history.replaceState(null, "", name === "wall" ? "#wall" : "#");
  };
  $("tab-map").onclick = () => view("map");
  $("tab-wall").onclick = () => view("wall");
  // A link to /#wall opens the wall at once: it needs the live feed, not
  // the map (which may take long to draw on a machine without a GPU).
  if (location.hash === "#wall") view("wall");
  window.addEventListener("hashchange", () => view(location.hash === "#wall" ? "wall" : "map"));

  // Ready: the buildings, the fences and the live feed are on the map.
  // Checked when the map goes idle and every 250 ms besides: a machine
  // that draws a frame slower than the live feed updates the map never
  // goes idle.
  const t0 = performance.now();
  const ready = () => {
    if (state.ready === true) return true;
    if (map.isSourceLoaded("buildings") && map.isSourceLoaded("geofences") && state.connected && map.loaded()) {
      state.ready = true;
      state.timing.firstRender = performance.now(); // since navigation started
      state.timing.sinceScript = performance.now() - t0;
      return true;
    }
    map.once("idle", ready);
    return false;
  };
  map.once("idle", ready);
  const poll = setInterval(() => ready() && clearInterval(poll), 250);
}

function closePanel() {
  state.control?.hide();
  state.panelPlayer?.close();
  state.panelPlayer = null;
  $("panel").hidden = true;
}

// showPanel fills the side panel: a title, rows, and a camera's live video.
function showPanel(title, rows, camera) {
  state.control?.hide();
  state.panelPlayer?.close();
  state.panelPlayer = null;
  const body = $("panel-body");
  // Values come from vehicles and cameras: text, never markup.
  body.innerHTML = "<h3></h3><table></table>";
  body.querySelector("h3").textContent = title;
  fillRows(body.querySelector("table"), rows);
  state.panelVehicle = null;
  if (camera) {
    const box = document.createElement("div");
    box.className = "tile-box panel-video";
    body.append(box);
    state.panelPlayer = new Player(box, camera, state, { mode: state.videoMode });
  }
  $("panel").hidden = false;
}

function showCamera(id) {
  const c = state.cameras.get(id);
  if (!c) return;
  const counts = Object.entries(c.counts || {}).map(([zone, byClass]) => `${zone}: ${Object.entries(byClass).map(([k, n]) => `${n} ${k}`).join(", ")}`).join("; ");
  showPanel(c.name || c.id, [
    ["status", `${c.status}${c.reason ? " — " + c.reason : ""}`], ["kind", c.kind], ["vehicle", c.vehicle_id],
    ["video", c.codec && `${c.codec} ${c.width}×${c.height} · ${c.fps?.toFixed(1)} fps · ${Math.round((c.bitrate || 0) / 1000)} kbit/s`],
    ["detector", `${c.detector}${c.detector_error ? " — " + c.detector_error : ""}`], ["analysis", `${c.analysis_fps?.toFixed(1)} fps · ${c.tracks} tracks`],
    ["zones", counts],
  ], c.status === "no video" ? null : id);
}

// addBasemap adds the site's basemap: XYZ raster tiles, or a PMTiles file
// that smarteye serves with Range requests (raster, or vector drawn as
// plain fills and lines: no glyphs needed).
async function addBasemap(map, site) {
  const b = site?.basemap;
  if (b?.type === "xyz") {
    map.addSource("basemap", { type: "raster", tiles: [b.url], tileSize: 256 });
    map.addLayer({ id: "basemap", type: "raster", source: "basemap" });
  }
  if (b?.type !== "pmtiles") return;
  const protocol = new Protocol();
  addProtocol("pmtiles", protocol.tile);
  const url = new URL(b.url.replace(/^\//, ""), location.href).href;
  const archive = new PMTiles(url);
  protocol.add(archive);
  const header = await archive.getHeader();
  if (header.tileType === 1) {
    const meta = await archive.getMetadata();
    map.addSource("basemap", { type: "vector", url: `pmtiles://${url}` });
    for (const l of meta?.vector_layers || []) {
      map.addLayer({ id: `basemap-${l.id}-fill`, type: "fill", source: "basemap", "source-layer": l.id, filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#243042", "fill-opacity": 0.8 } });
      map.addLayer({ id: `basemap-${l.id}-line`, type: "line", source: "basemap", "source-layer": l.id, filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#3a4a60", "line-width": 1 } });
    }
  } else {
    map.addSource("basemap", { type: "raster", url: `pmtiles://${url}`, tileSize: 256 });
    map.addLayer({ id: "basemap", type: "raster", source: "basemap" });
  }
  state.basemap = { type: "pmtiles", tileType: header.tileType };
}

// The live feed, reconnecting with a capped backoff and a visible banner.
function connect(map) {
  let backoff = 500;
  const open = () => {
    const ws = new WebSocket(new URL("api/v1/live?batch=1", location.href).href.replace(/^http/, "ws"));
    ws.onopen = () => {
      backoff = 500;
      state.connected = true;
      $("banner").hidden = true;
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      for (const u of Array.isArray(msg) ? msg : [msg]) handle(map, u);
    };
    ws.onclose = () => {
      state.connected = false;
      if (login.shown) return; // logged out: no reconnecting
      $("banner").hidden = false;
      state.checkLogin();
      setTimeout(open, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  };
  open();
}

function handle(map, u) {
  switch (u.type) {
    case "snapshot":
      for (const v of u.vehicles || []) vehicle(map, v);
      for (const c of u.cameras || []) state.cameras.set(c.id, c);
      state.wall?.refresh();
      break;
    case "vehicle":
      vehicle(map, u.vehicle);
      break;
    case "camera": {
      const known = state.cameras.has(u.camera.id);
      state.cameras.set(u.camera.id, u.camera);
      if (!known) state.wall?.refresh();
      break;
    }
    case "detections": {
      const now = Date.now();
      const d = u.detections;
      let frames = state.detectionFrames.get(d.camera);
      if (!frames) state.detectionFrames.set(d.camera, (frames = []));
      const t = Date.parse(d.time);
      frames.push({ t, arrived: performance.timeOrigin + performance.now(), width: d.width, height: d.height, objects: d.objects });
      while (frames.length && t - frames[0].t > OVERLAY_KEEP_MS) frames.shift();
      for (const o of u.detections.objects) {
        if (o.lat === undefined) continue;
        state.detections.push({ at: now, camera: u.detections.camera, ...o });
      }
      break;
    }
    case "alert":
      upsertAlert(map, u.alert);
      break;
    case "event":
      state.control?.event(u.event);
      state.events.unshift(u.event);
      state.events.length = Math.min(state.events.length, 200);
      break;
  }
}

// The alert panel: open and acknowledged alerts, newest first; a click
// flies the map to the alert and opens its camera (or vehicle).
state.alerts = new globalThis.Map();
function upsertAlert(map, a) {
  const old = state.alerts.get(a.id);
  if (old && Date.parse(old.updated_at) > Date.parse(a.updated_at)) return;
  if (a.status === "resolved" || a.status === "dismissed") state.alerts.delete(a.id);
  else state.alerts.set(a.id, a);
  renderAlerts(map);
}
async function loadAlerts(map) {
  const as = await api("api/v1/alerts?status=open,acknowledged&limit=100");
  for (const a of as.reverse()) upsertAlert(map, a);
}
function renderAlerts(map) {
  const list = $("alert-list");
  const as = [...state.alerts.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  $("alert-count").textContent = as.length ? `(${as.length})` : "";
  $("alerts-empty").hidden = as.length > 0;
  list.replaceChildren(...as.map((a) => {
    const li = document.createElement("li");
    li.className = `${a.severity} ${a.status}`;
    li.dataset.id = a.id;
    const t = document.createElement("div");
    t.className = "t";
    t.textContent = a.title;
    const s = document.createElement("div");
    s.className = "s";
    const who = a.status === "acknowledged" && a.actor ? ` by ${a.actor}` : "";
    s.textContent = `${a.status}${who} · ${new Date(a.event_time).toLocaleTimeString()} · ${a.team || "no team"}${a.escalated_team ? " → " + a.escalated_team : ""}${a.occurrences > 1 ? ` · ×${a.occurrences}` : ""}`;
    li.append(t, s);
    li.onclick = () => {
      if (a.lat != null) map.flyTo({ center: [a.lon, a.lat], zoom: 18.5, duration: 1200 });
      if (a.camera_id) showCamera(a.camera_id);
      else if (a.vehicle_id) showVehicle(a.vehicle_id);
      state.alertClicked = a.id;
    };
    return li;
  }));
}

function vehicle(map, v) {
  let e = state.vehicles.get(v.id);
  if (!e) {
    const el = document.createElement("div");
    el.className = "vehicle";
    el.innerHTML = `<svg width="26" height="26" viewBox="-13 -13 26 26"><path d="M0,-11 L8,9 L0,4 L-8,9 Z" fill="#00e5ff" stroke="#002" stroke-width="1.5"/></svg><span></span>`;
    Object.assign(el.style, { display: "flex", flexDirection: "column", alignItems: "center", cursor: "pointer", font: "11px system-ui", color: "#fff", textShadow: "0 0 3px #000" });
    el.onclick = () => showVehicle(v.id);
    e = { marker: new Marker({ element: el, rotationAlignment: "viewport" }), el, trail: [], added: false };
    state.vehicles.set(v.id, e);
  }
  e.v = v;
  const p = v.position;
  if (!p) return;
  const lost = v.link_health?.state === "lost";
  e.marker.setLngLat([p.lon, p.lat]);
  // The arrow points along the heading on the map, the label stays upright.
  e.heading = v.motion?.heading ?? v.attitude?.yaw ?? 0;
  e.el.querySelector("svg").style.transform = `rotate(${e.heading - map.getBearing()}deg)`;
  e.el.style.opacity = lost ? 0.4 : 1;
  const batt = v.battery?.remaining !== undefined ? ` · ${Math.round(v.battery.remaining)}%` : "";
  e.el.querySelector("span").textContent = `${v.name || v.id} · ${Math.round(p.alt_rel ?? 0)} m${batt}${v.mode ? " · " + v.mode : ""}${lost ? " · LINK LOST" : ""}${v.link_health?.warning ? " · ⚠ SUSPECT" : ""}`;
  if (!e.added) {
    e.marker.addTo(map);
    e.added = true;
  }
  if (state.control?.vehicle === v.id) state.control.changed(v);
  // The open panel follows its drone, once a second at most.
  if (state.panelVehicle === v.id && !$("panel").hidden && performance.now() - (e.shown || 0) > 1000) {
    e.shown = performance.now();
    const table = $("panel-body").querySelector("table");
    if (table) fillRows(table, vehicleRows(v));
  }
  const now = Date.now();
  e.trail.push([now, p.lon, p.lat]);
  while (e.trail.length && now - e.trail[0][0] > TRAIL_MS) e.trail.shift();
}

// vehicleRows are what a drone's panel says of it.
function vehicleRows(v) {
  return [
    ["mode", v.mode], ["armed", v.armed], ["landed", v.landed?.replace("_", " ")], ["link", v.link_health?.state],
    ["altitude", v.position && `${v.position.alt_rel?.toFixed(1)} m`],
    ["speed", v.motion && `${v.motion.ground_speed?.toFixed(1)} m/s`], ["heading", v.motion && `${Math.round(v.motion.heading)}°`],
    ["battery", v.battery && [v.battery.remaining !== undefined && `${Math.round(v.battery.remaining)} %`, v.battery.voltage !== undefined && `${v.battery.voltage.toFixed(1)} V`].filter(Boolean).join(" · ")],
    ["GPS", v.gps && `${v.gps.fix_name} · ${v.gps.satellites} sats`], ["camera", v.camera],
    ["mission", v.mission && `item ${v.mission.current} of ${v.mission.total}${v.mission.state ? " · " + v.mission.state.replace("_", " ") : ""}`],
    ["warning", v.link_health?.warning], ["refused frames", v.link_health?.rejected],
  ];
}

// fillRows puts rows into the panel's table (values as text, never markup).
function fillRows(table, rows) {
  table.replaceChildren();
  for (const [k, v] of rows.filter((r) => r[1] !== undefined && r[1] !== null && r[1] !== "")) {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = String(v);
  }
}

function showVehicle(id) {
  const v = state.vehicles.get(id)?.v;
  if (!v) return;
  const cam = [...state.cameras.values()].find((c) => c.vehicle_id === v.id && c.codec);
  showPanel(v.name || v.id, vehicleRows(v), cam?.id);
  state.panelVehicle = id;
  if (state.control?.can()) {
    const box = document.createElement("div");
    box.className = "control";
    $("panel-body").querySelector("table").after(box);
    state.control.show(v.id, box);
  }
}

// projection is a vehicle's course for the next minute and its cone, as
// GeoJSON features; none when it hovers or has no velocity.
const PROJECT_S = 60;
const TRACK_PROJECT_S = 30; // tracked people and cars: half a minute
function projection(v) {
  const m = v?.motion;
  const p = v?.position;
  if (!m || !p || v.link_health?.state === "lost") return [];
  return course(p.lat, p.lon, m.v_north ?? 0, m.v_east ?? 0, PROJECT_S, { vehicle: v.id });
}

// trackProjections are the courses of the tracked objects seen last
// (their newest position each), over the next half minute.
function trackProjections() {
  const newest = new globalThis.Map();
  for (const d of state.detections) if (d.v_north !== undefined) newest.set(`${d.camera}/${d.track_id}`, d);
  return [...newest.values()].flatMap((d) => course(d.lat, d.lon, d.v_north, d.v_east, TRACK_PROJECT_S, { camera: d.camera, track: d.track_id }));
}

// course is the line of a course for seconds ahead and its error cone
// (3 m + 15 % of the distance, as the server predicts breaches with).
function course(lat, lon, vn, ve, seconds, properties) {
  const speed = Math.hypot(vn, ve);
  if (speed < 0.5) return [];
  const mPerDegLat = 111195;
  const mPerDegLon = 111195 * Math.cos((lat * Math.PI) / 180);
  const at = (t, side) => {
    const r = side ? (3 + 0.15 * speed * t) * side : 0;
    const n = vn * t + (-ve / speed) * r;
    const e = ve * t + (vn / speed) * r;
    return [lon + e / mPerDegLon, lat + n / mPerDegLat];
  };
  const ts = [0, 1, 2, 3, 4, 5, 6].map((i) => (i * seconds) / 6);
  const left = ts.map((t) => at(t, 1));
  const right = ts.map((t) => at(t, -1)).reverse();
  return [
    { type: "Feature", geometry: { type: "LineString", coordinates: [at(0, 0), at(seconds, 0)] }, properties },
    { type: "Feature", geometry: { type: "Polygon", coordinates: [[...left, ...right, left[0]]] }, properties },
  ];
}

function redraw(map) {
  const now = Date.now();
  state.detections = state.detections.filter((d) => now - d.at < DETECTION_MS);
  $("counts").textContent = `${state.vehicles.size} vehicles · ${state.cameras.size} cameras · ${state.detections.length} detections in the last minute`;
  if (state.view === "wall") return;
  map.getSource("detections")?.setData({
    type: "FeatureCollection",
    features: state.detections.map((d) => ({
      type: "Feature",
      geometry: { type: "Point", coordinates: [d.lon, d.lat] },
      properties: { class: d.class, colour: CLASS_COLOURS[d.class] || "#ffb000", opacity: 1 - (now - d.at) / DETECTION_MS },
    })),
  });
  map.getSource("footprints")?.setData({
    type: "FeatureCollection",
    features: [...state.cameras.values()].filter((c) => c.footprint?.length >= 4).map((c) => ({
      type: "Feature",
      geometry: { type: "Polygon", coordinates: [c.footprint] },
      properties: { camera: c.id, status: c.status },
    })),
  });
  map.getSource("zones")?.setData({
    type: "FeatureCollection",
    features: [...state.cameras.values()].flatMap((c) => (c.zones || []).map((z) => ({
      type: "Feature",
      geometry: { type: "Polygon", coordinates: [z.ring] },
      properties: { camera: c.id, name: z.name },
    }))),
  });
  const courses = [...state.vehicles.values()].flatMap((e) => projection(e.v)).concat(trackProjections());
  state.projections = courses.length / 2;
  map.getSource("projections")?.setData({ type: "FeatureCollection", features: courses });
  map.getSource("trails")?.setData({
    type: "FeatureCollection",
    features: [...state.vehicles.values()].filter((e) => e.trail.length > 1).map((e) => ({
      type: "Feature",
      geometry: { type: "LineString", coordinates: e.trail.map((t) => [t[1], t[2]]) },
      properties: {},
    })),
  });
}

boot().catch((err) => {
  $("site").textContent = `failed to start: ${err.message}`;
  console.error(err);
});
