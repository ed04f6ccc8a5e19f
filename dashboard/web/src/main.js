// smarteye's command-centre map: the site's buildings in 3D, geofences,
// live vehicles with heading, trail and state, camera footprints and
// detections, all from smarteye's own API — no remote tiles, glyphs or
// sprites (labels are HTML markers, so no glyphs are needed).
import { Map, Marker, setWorkerUrl } from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
// Vite drops MapLibre's worker unless it is bundled as one and handed over.
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?worker&url";
import "./style.css";

setWorkerUrl(workerUrl);

const TRAIL_MS = 3 * 60 * 1000; // vehicle trails: the last three minutes
const DETECTION_MS = 60 * 1000; // detections fade out over a minute
const CLASS_COLOURS = { person: "#ffb000", car: "#4fc3f7", truck: "#4fc3f7", bus: "#4fc3f7", bicycle: "#81c784", motion: "#ce93d8" };

// State, exposed for operators' scripts and the browser tests.
const state = { connected: false, vehicles: new globalThis.Map(), cameras: new globalThis.Map(), detections: [], events: [], site: null };
globalThis.smarteye = state;

const $ = (id) => document.getElementById(id);

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

const empty = () => ({ type: "FeatureCollection", features: [] });

async function start() {
  const { sites } = await getJSON("api/v1/sites");
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
  addBasemap(map, site);

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

  map.addSource("trails", { type: "geojson", data: empty() });
  map.addLayer({ id: "trails", type: "line", source: "trails", paint: { "line-color": "#00e5ff", "line-width": 2, "line-opacity": 0.6 } });

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
  connect(map);
  setInterval(() => redraw(map), 1000);
  $("close").onclick = () => ($("panel").hidden = true);
}

function addBasemap(map, site) {
  const b = site?.basemap;
  if (b?.type === "xyz") {
    map.addSource("basemap", { type: "raster", tiles: [b.url], tileSize: 256 });
    map.addLayer({ id: "basemap", type: "raster", source: "basemap" });
  }
  // A PMTiles basemap needs a protocol handler (pmtiles://); it is served
  // at b.url with Range requests for one to read.
}

// The live feed, reconnecting with a capped backoff and a visible banner.
function connect(map) {
  let backoff = 500;
  const open = () => {
    const ws = new WebSocket(new URL("api/v1/live", location.href).href.replace(/^http/, "ws"));
    ws.onopen = () => {
      backoff = 500;
      state.connected = true;
      $("banner").hidden = true;
    };
    ws.onmessage = (m) => handle(map, JSON.parse(m.data));
    ws.onclose = () => {
      state.connected = false;
      $("banner").hidden = false;
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
      break;
    case "vehicle":
      vehicle(map, u.vehicle);
      break;
    case "camera":
      state.cameras.set(u.camera.id, u.camera);
      break;
    case "detections": {
      const now = Date.now();
      for (const o of u.detections.objects) {
        if (o.lat === undefined) continue;
        state.detections.push({ at: now, camera: u.detections.camera, ...o });
      }
      break;
    }
    case "event":
      state.events.unshift(u.event);
      state.events.length = Math.min(state.events.length, 200);
      break;
  }
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
  const batt = v.battery ? ` · ${Math.round(v.battery.remaining)}%` : "";
  e.el.querySelector("span").textContent = `${v.name || v.id} · ${Math.round(p.alt_rel ?? 0)} m${batt}${v.mode ? " · " + v.mode : ""}${lost ? " · LINK LOST" : ""}`;
  if (!e.added) {
    e.marker.addTo(map);
    e.added = true;
  }
  const now = Date.now();
  e.trail.push([now, p.lon, p.lat]);
  while (e.trail.length && now - e.trail[0][0] > TRAIL_MS) e.trail.shift();
}

function showVehicle(id) {
  const v = state.vehicles.get(id)?.v;
  if (!v) return;
  const rows = [
    ["mode", v.mode], ["armed", v.armed], ["link", v.link_health?.state], ["altitude", v.position && `${v.position.alt_rel?.toFixed(1)} m`],
    ["speed", v.motion && `${v.motion.ground_speed?.toFixed(1)} m/s`], ["heading", v.motion && `${Math.round(v.motion.heading)}°`],
    ["battery", v.battery && `${Math.round(v.battery.remaining)} % · ${v.battery.voltage?.toFixed(1)} V`],
    ["GPS", v.gps && `${v.gps.fix_name} · ${v.gps.satellites} sats`], ["camera", v.camera],
  ];
  $("panel-body").innerHTML = `<h3>${v.name || v.id}</h3><table>${rows.filter((r) => r[1] !== undefined).map((r) => `<tr><td>${r[0]}</td><td>${r[1]}</td></tr>`).join("")}</table>`;
  $("panel").hidden = false;
}

function redraw(map) {
  const now = Date.now();
  state.detections = state.detections.filter((d) => now - d.at < DETECTION_MS);
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
  map.getSource("trails")?.setData({
    type: "FeatureCollection",
    features: [...state.vehicles.values()].filter((e) => e.trail.length > 1).map((e) => ({
      type: "Feature",
      geometry: { type: "LineString", coordinates: e.trail.map((t) => [t[1], t[2]]) },
      properties: {},
    })),
  });
  $("counts").textContent = `${state.vehicles.size} vehicles · ${state.cameras.size} cameras · ${state.detections.length} detections in the last minute`;
}

start().catch((err) => {
  $("site").textContent = `failed to start: ${err.message}`;
  console.error(err);
});
