// smarteye trends: each zone's (camera's, geofence's) counts over a range
// — the crowd, entries and exits, stays, breaches and alerts — drawn beside
// the same length of time just before it, with the forecast of the next
// hours and its band when the range reaches now, and the heat map of the
// range's detections on the map. The query is in the URL, so a link shares
// a view; CSV gives the same counts.
import { Map, setWorkerUrl } from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?worker&url";
import { api, onUnauthorized, sitesOr401 } from "./api.js";
import { esc } from "./escape.js";
import "./trends.css";

setWorkerUrl(workerUrl);

const DAY = 86400000;
const HEAT_MAX = 31 * DAY; // the detection tiles' longest range
const FORECAST_HOURS = 12;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// State, exposed for scripts and the browser tests.
const state = { ready: false, loaded: false, error: null, answer: null, url: "", charts: 0, forecasts: 0, sites: [] };
globalThis.smarteyeTrends = state;

onUnauthorized(() => {
  $("login-needed").hidden = false;
});

const METRIC_NAMES = {
  peak: "crowd", entries: "entries", exits: "exits", dwell_mean_s: "mean stay", detections: "detections", breaches: "breaches", alerts: "alerts",
};

let map;
let tz = "UTC";

const iso = (ms) => new Date(ms).toISOString();
const dateInput = (ms) => new Date(ms).toISOString().slice(0, 10);

// range is the query's [from, to) in ms: a preset ends at the next whole
// hour (so the forecast starts where the chart ends), or the chosen days.
function range() {
  const preset = $("preset").value;
  if (preset === "custom") {
    const from = Date.parse($("from").value + "T00:00:00Z");
    const to = Date.parse($("to").value + "T00:00:00Z") + DAY;
    return [from, to];
  }
  const to = Math.ceil(Date.now() / 3600000) * 3600000;
  return [to - Number(preset) * DAY, to];
}

async function boot() {
  for (const id of ["scope", "preset", "step", "class", "metric"]) if (params.get(id)) $(id).value = params.get(id);
  if (params.get("from") && params.get("to")) {
    $("preset").value = "custom";
    $("from").value = params.get("from").slice(0, 10);
    $("to").value = params.get("to").slice(0, 10);
  }
  $("custom").hidden = $("preset").value !== "custom";
  $("preset").onchange = () => {
    $("custom").hidden = $("preset").value !== "custom";
    if ($("preset").value === "custom" && !$("from").value) {
      $("from").value = dateInput(Date.now() - 30 * DAY);
      $("to").value = dateInput(Date.now());
    }
  };
  $("metric").onchange = () => render();
  $("query").onsubmit = (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const id of ["site", "scope", "step", "class", "metric"]) if ($(id).value) q.set(id, $(id).value);
    if ($("preset").value === "custom") {
      const [from, to] = range();
      q.set("from", iso(from));
      q.set("to", iso(to));
    } else q.set("preset", $("preset").value);
    history.replaceState(null, "", "?" + q);
    load();
  };
  const sites = await sitesOr401();
  if (!sites) {
    state.ready = "login";
    return;
  }
  state.sites = sites;
  $("site").innerHTML = `<option value="">all</option>` + sites.map((s) => `<option value="${esc(s.id)}">${esc(s.name)}</option>`).join("");
  $("site").value = params.get("site") ?? sites[0]?.id ?? "";
  const site = sites[0];
  map = new Map({
    container: "map", center: site ? [site.lon, site.lat] : [0, 0], zoom: site ? 16.2 : 2, attributionControl: false,
    style: { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#1b222c" } }] },
  });
  await new Promise((resolve) => map.on("load", resolve));
  map.addSource("buildings", { type: "geojson", data: site?.model ? site.model.replace(/^\//, "") : { type: "FeatureCollection", features: [] } });
  map.addLayer({ id: "buildings", type: "fill", source: "buildings", paint: { "fill-color": "#4a5a70", "fill-opacity": 0.6 } });
  map.addSource("geofences", { type: "geojson", data: "api/v1/geofences" });
  map.addLayer({ id: "geofences", type: "line", source: "geofences", paint: { "line-color": "#ff8a65", "line-width": 2 } });
  state.ready = true;
  await load();
}

// load asks for the trends of the chosen range (with the previous period,
// and the forecast when the range reaches now) and draws them.
async function load() {
  const [from, to] = range();
  const site = state.sites.find((s) => s.id === $("site").value);
  tz = site?.timezone || "UTC";
  const q = new URLSearchParams({ scope: $("scope").value, from: iso(from), to: iso(to), compare: "previous" });
  for (const id of ["site", "step"]) if ($(id).value) q.set(id, $(id).value);
  // A class, or each class as a series of its own.
  if ($("class").value === "*") q.set("by", "class");
  else if ($("class").value) q.set("class", $("class").value);
  const live = to >= Date.now() - 3600000;
  const hourly = $("step").value === "1h" || ($("step").value === "" && to - from > 2 * DAY && to - from <= 35 * DAY);
  if (live && hourly) q.set("forecast", `${FORECAST_HOURS}h`);
  state.url = "api/v1/trends?" + q;
  $("csv").href = state.url + "&format=csv";
  $("status").textContent = "loading…";
  state.loaded = false;
  state.error = null;
  const t0 = performance.now();
  try {
    state.answer = await api(state.url);
  } catch (err) {
    state.error = err.status ? `${err.status} ${err.message}` : err.message;
    $("status").textContent = `trends failed: ${state.error}`;
    return;
  }
  render();
  const n = state.answer.series.length;
  $("status").textContent = `${n} ${$("scope").value}${n === 1 ? "" : "s"} · ${fmtRange(from, to)} · ${state.answer.step} steps · ${Math.round(performance.now() - t0)} ms`;
  heat(from, to);
  state.loaded = true;
}

function fmtRange(from, to) {
  const f = new Intl.DateTimeFormat("en-GB", { timeZone: tz, day: "numeric", month: "short", year: "numeric" });
  return `${f.format(from)} – ${f.format(to - 1)} (${tz})`;
}

// heat shows the range's placed detections (its last 31 days) as a heat map.
function heat(from, to) {
  const hfrom = Math.max(from, to - HEAT_MAX);
  const base = location.href.replace(/[?#].*$/, "").replace(/[^/]*$/, "");
  const url = `${base}api/v1/tiles/detections/{z}/{x}/{y}?from=${iso(hfrom)}&to=${iso(to)}`;
  if (map.getLayer("heat")) map.removeLayer("heat");
  if (map.getSource("heat")) map.removeSource("heat");
  map.addSource("heat", { type: "vector", tiles: [url], minzoom: 12, maxzoom: 18 });
  map.addLayer({
    id: "heat", type: "heatmap", source: "heat", "source-layer": "detections",
    paint: { "heatmap-radius": ["interpolate", ["linear"], ["zoom"], 14, 4, 19, 22], "heatmap-intensity": 0.15, "heatmap-opacity": 0.65 },
  }, "geofences");
  $("heat-note").textContent = `Where people and vehicles were seen, ${fmtRange(hfrom, to)}` + (hfrom > from ? " (the range's last 31 days)" : "");
}

function render() {
  const a = state.answer;
  if (!a) return;
  const metric = $("metric").value;
  const box = $("charts");
  box.innerHTML = "";
  state.charts = 0;
  state.forecasts = 0;
  if (!a.series.length) {
    box.innerHTML = `<p class="empty">Nothing was counted in this range. Zones count once a camera with zones has seen someone; geofences once something was placed in one.</p>`;
    return;
  }
  for (const s of a.series) {
    const card = document.createElement("article");
    card.className = "card";
    card.dataset.key = s.key;
    card.innerHTML = `<h3>${esc(s.key)}${s.class ? ` · ${esc(s.class)}` : ""}</h3><p class="sum">${summary(s)}</p>`;
    const f = s.forecast;
    const charts = document.createElement("div");
    charts.className = "charts";
    charts.append(chart(s, metric, a, Date.parse(a.from)));
    // Beside the range: its last two days and the forecast hours, where
    // tonight can be read.
    if (f?.forecast && f.metric === metric && a.step === "1h") state.forecasts++;
    if (f?.forecast && f.metric === metric && a.step === "1h" && s.time.length > 48) {
      const recent = tail(s, 48);
      const z = chart(recent, metric, a, Date.parse(recent.time[0]), 400);
      z.classList.add("zoom");
      charts.append(z);
    }
    card.append(charts);
    const note = document.createElement("p");
    note.className = "note";
    if (f?.error) note.textContent = `No forecast: ${f.error}.`;
    else if (f?.forecast && f.metric !== metric) note.textContent = `Forecast drawn for ${METRIC_NAMES[f.metric]}: choose it above.`;
    else if (f?.forecast) note.innerHTML = forecastNote(f);
    card.append(note);
    box.append(card);
    state.charts++;
  }
}

// tail is the series' last n steps (and its previous period's).
function tail(s, n) {
  const out = { ...s };
  for (const k of ["time", ...Object.keys(METRIC_NAMES)]) out[k] = s[k].slice(-n);
  if (s.previous) {
    out.previous = { ...s.previous };
    for (const k of ["time", ...Object.keys(METRIC_NAMES)]) out.previous[k] = s.previous[k].slice(-n);
  }
  return out;
}

// maxOf is the largest of a floor and arrays of any length (spreading
// 100,000 values into Math.max overflows the stack).
function maxOf(floor, ...arrays) {
  let m = floor;
  for (const a of arrays) for (const x of a) if (x > m) m = x;
  return m;
}

const sum = (v) => (v || []).reduce((x, y) => x + y, 0);
const fmtInt = (n) => Math.round(n).toLocaleString("en-GB");

function summary(s) {
  const parts = [];
  const cur = sum(s.entries), prev = s.previous ? sum(s.previous.entries) : null;
  let change = "";
  if (prev) {
    const pct = Math.round(((cur - prev) / prev) * 100);
    change = ` <span class="${pct >= 0 ? "up" : "down"}">${pct >= 0 ? "+" : ""}${pct} %</span> on the previous period`;
  }
  parts.push(`<b>${fmtInt(cur)}</b> entries${change}`);
  const peak = maxOf(0, s.peak);
  if (peak) parts.push(`most inside at once <b>${peak}</b>`);
  const exits = sum(s.exits);
  if (exits) {
    const stay = s.dwell_mean_s.reduce((acc, d, i) => acc + d * s.exits[i], 0) / exits;
    parts.push(`mean stay <b>${fmtDur(stay)}</b>`);
  }
  const det = sum(s.detections);
  if (det) parts.push(`${fmtInt(det)} detections`);
  const br = sum(s.breaches), al = sum(s.alerts);
  if (br) parts.push(`<b>${br}</b> breaches`);
  if (al) parts.push(`<b>${al}</b> alerts`);
  return parts.join(" · ");
}

function fmtDur(s) {
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function forecastNote(f) {
  const fc = f.forecast;
  let best = 0;
  fc.mean.forEach((m, i) => { if (m > fc.mean[best]) best = i; });
  const when = new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit" }).format(Date.parse(f.time[best]));
  return `Forecast (${esc(fc.method)}, ${Math.round(fc.level * 100)} % band): up to <b>${Math.round(fc.mean[best])}</b> (${Math.round(fc.lower[best])}–${Math.round(fc.upper[best])}) around ${esc(when)}.`;
}

const H = 190, L = 40, R = 10, T = 10, B = 24;
const svgNS = "http://www.w3.org/2000/svg";
function el(name, attrs, parent) {
  const e = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent?.append(e);
  return e;
}

// chart draws one series: the range (solid), the previous period under it
// (dashed, shifted onto the same hours), the forecast (dotted) in its band,
// and now; hovering reads the values.
function chart(s, metric, a, x0, W = 760) {
  const xs = s.time.map(Date.parse);
  const ys = s[metric];
  const prev = s.previous?.[metric];
  const f = s.forecast?.forecast && s.forecast.metric === metric && a.step === "1h" ? s.forecast : null;
  const fx = f ? f.time.map(Date.parse) : [];
  const x1 = Math.max(Date.parse(a.to), fx.length ? fx[fx.length - 1] + 3600000 : 0);
  const ymax = maxOf(1, ys, prev || [], f ? f.forecast.upper : []) * 1.08;
  const X = (t) => L + ((t - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + (1 - v / ymax) * (H - T - B);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${METRIC_NAMES[metric]} at ${s.key}` });
  // Grid and axes.
  for (const v of ticks(ymax)) {
    el("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "grid" }, svg);
    el("text", { x: L - 4, y: Y(v) + 4, class: "ylab" }, svg).textContent = metric === "dwell_mean_s" ? fmtDur(v) : v;
  }
  for (const t of timeTicks(x0, x1)) {
    el("line", { x1: X(t.ms), x2: X(t.ms), y1: T, y2: H - B, class: "grid" }, svg);
    el("text", { x: X(t.ms), y: H - 6, class: "xlab" }, svg).textContent = t.label;
  }
  const path = (px, py) => px.map((x, i) => `${i ? "L" : "M"}${X(x).toFixed(1)},${Y(py[i]).toFixed(1)}`).join("");
  if (prev) el("path", { d: path(xs, prev), class: "prev" }, svg);
  if (f) {
    const fc = f.forecast;
    const band = fx.map((x, i) => `${X(x).toFixed(1)},${Y(fc.upper[i]).toFixed(1)}`).concat(fx.map((x, i) => `${X(x).toFixed(1)},${Y(fc.lower[i]).toFixed(1)}`).reverse());
    el("polygon", { points: band.join(" "), class: "band" }, svg);
    el("path", { d: path(fx, fc.mean), class: "forecast" }, svg);
  }
  el("path", { d: path(xs, ys), class: "cur" }, svg);
  const now = Date.now();
  if (now > x0 && now < x1) {
    el("line", { x1: X(now), x2: X(now), y1: T, y2: H - B, class: "now" }, svg);
    el("text", { x: X(now) + 3, y: T + 10, class: "nowlab" }, svg).textContent = "now";
  }
  // Hover: the nearest step's values.
  const cursor = el("line", { y1: T, y2: H - B, class: "cursor", visibility: "hidden" }, svg);
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  const wrap = document.createElement("div");
  wrap.className = "chart-wrap";
  wrap.append(svg, tip);
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  svg.addEventListener("mousemove", (e) => {
    const r = svg.getBoundingClientRect();
    const t = x0 + (((e.clientX - r.left) / r.width) * W - L) / (W - L - R) * (x1 - x0);
    let text;
    const fi = fx.findIndex((x) => t >= x && t < x + 3600000);
    if (fi >= 0) {
      const fc = f.forecast;
      text = `${fmt.format(fx[fi])} · forecast ${fc.mean[fi].toFixed(1)} (${fc.lower[fi].toFixed(1)}–${fc.upper[fi].toFixed(1)})`;
      cursor.setAttribute("x1", X(fx[fi]));
    } else {
      let i = xs.findIndex((x) => x > t) - 1;
      if (i < 0) i = t < xs[0] ? 0 : xs.length - 1;
      text = `${fmt.format(xs[i])} · ${METRIC_NAMES[metric]} ${+ys[i].toFixed(1)}` + (prev ? ` · previous ${+prev[i].toFixed(1)}` : "");
      cursor.setAttribute("x1", X(xs[i]));
    }
    cursor.setAttribute("x2", cursor.getAttribute("x1"));
    cursor.setAttribute("visibility", "visible");
    tip.hidden = false;
    tip.textContent = text;
  });
  svg.addEventListener("mouseleave", () => {
    tip.hidden = true;
    cursor.setAttribute("visibility", "hidden");
  });
  return wrap;
}

function ticks(max) {
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].find((s) => max / s <= 5) || Math.ceil(max / 5);
  const out = [];
  for (let v = 0; v <= max; v += step) out.push(v);
  return out;
}

// timeTicks marks midnights in the site's zone (every day, or every week
// over long ranges), or hours over a day.
function timeTicks(x0, x1) {
  const span = x1 - x0;
  const out = [];
  const hourOf = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "numeric", hourCycle: "h23" });
  if (span <= 2 * DAY) {
    const f = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit" });
    const every = span <= DAY ? 3 : 6;
    for (let t = Math.ceil(x0 / 3600000) * 3600000; t < x1; t += 3600000) {
      const h = Number(hourOf.format(t));
      if (h % every === 0) out.push({ ms: t, label: f.format(t) });
    }
    return out;
  }
  const f = new Intl.DateTimeFormat("en-GB", { timeZone: tz, day: "numeric", month: "short" });
  const every = span <= 10 * DAY ? 1 : span <= 45 * DAY ? 7 : 14;
  let n = 0;
  for (let t = Math.ceil(x0 / 3600000) * 3600000; t < x1; t += 3600000) {
    if (Number(hourOf.format(t)) !== 0) continue;
    if (n++ % every === 0) out.push({ ms: t, label: f.format(t) });
  }
  return out;
}

boot().catch((err) => {
  state.error = err.message;
  $("status").textContent = `trends failed: ${err.message}`;
});
