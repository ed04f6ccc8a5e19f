// Flying a drone from the map: the vehicle panel's command section. One
// operator controls a vehicle at a time (take control, release; an admin
// may take over); the commands are those of POST
// /api/v1/vehicles/{id}/commands, each shown with its state as the live
// feed tells it (queued, sent, accepted, done — or denied with the
// autopilot's own reason). Go-to is a click on the map (the target and
// altitude shown before it is sent); a patrol is drawn with clicks and
// sent as a mission, then started. The vehicle's confirmed mission is
// drawn on the map with its current waypoint.
import { Marker } from "maplibre-gl";
import { api, ApiError } from "./api.js";

const RENEW_MS = 30000;
const POLL_MS = 2000; // commands under way are read again: a busy live feed may drop an update
const FINAL = new Set(["done", "denied", "failed", "timed_out", "cancelled"]);

export class Control {
  // state: the page's state (user, vehicles, map); box: the element the
  // section is drawn in, inside the vehicle panel.
  constructor(state, map) {
    this.state = state;
    this.map = map;
    this.vehicle = null;
    this.commands = new globalThis.Map(); // by id, for the shown vehicle
    this.holder = null;
    this.pick = null; // {kind: "goto" | "patrol", points: [[lon, lat]…], markers}
    this.info = null; // the last GET …/commands: limits, modes, plan
    map.addSource("mission", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "mission-line", type: "line", source: "mission", filter: ["==", ["geometry-type"], "LineString"],
      paint: { "line-color": ["case", ["get", "draft"], "#ffd54f", "#69f0ae"], "line-width": 2.5, "line-dasharray": [3, 1.5] } });
    map.addLayer({ id: "mission-points", type: "circle", source: "mission", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": ["case", ["get", "current"], 8, 5], "circle-color": ["case", ["get", "current"], "#ff6e40", ["get", "draft"], "#ffd54f", "#69f0ae"],
        "circle-stroke-color": "#000", "circle-stroke-width": 1 } });
    map.on("click", (e) => this.clicked(e));
    setInterval(() => this.renew(), RENEW_MS);
    setInterval(() => this.poll(), POLL_MS);
    addEventListener("pagehide", () => {
      if (this.vehicle && this.mine()) fetch(this.url("control"), { method: "POST", keepalive: true, headers: { "Content-Type": "application/json" }, body: '{"action":"release"}' });
    });
  }

  can() {
    return (this.state.user?.permissions || []).includes("command");
  }

  mine() {
    return this.holder && this.holder.user === this.state.user?.user;
  }

  url(path) {
    return `api/v1/vehicles/${encodeURIComponent(this.vehicle)}/${path}`;
  }

  // show draws the section for vehicle id into box.
  async show(id, box) {
    if (this.vehicle !== id) {
      this.pending = null;
      this.cancelPick();
      this.commands.clear();
      this.holder = null;
      this.info = null;
    }
    this.vehicle = id;
    this.box = box;
    this.render();
    try {
      this.info = await api(this.url("commands"));
      this.holder = this.info.holder;
      for (const c of this.info.commands || []) this.merge(c);
    } catch (err) {
      this.info = { error: err.message };
    }
    this.render();
    this.drawPlan();
  }

  hide() {
    this.cancelPick();
    this.vehicle = null;
    this.box = null;
  }

  // merge keeps the newer of what is known of a command: the live feed
  // may tell its outcome before the answer to the request that sent it
  // arrives.
  merge(c) {
    const old = this.commands.get(c.id);
    if (old && Date.parse(old.updated) > Date.parse(c.updated)) return;
    this.commands.set(c.id, c);
  }

  // changed is a new state of the shown vehicle: what the section shows of
  // it is drawn again when it changed.
  changed(v) {
    const key = [v.armed, v.mode, v.mission?.current, v.link_health?.state].join("|");
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.render();
  }

  // event takes a vehicle.command event from the live feed.
  event(e) {
    if (e.kind !== "vehicle.command" || !e.data?.id) return;
    if (e.vehicle_id !== this.vehicle) return;
    this.merge({ ...(this.commands.get(e.data.id) || {}), ...e.data, vehicle: e.vehicle_id, updated: e.time });
    if (e.data.command === "mission" && e.data.state === "done") this.show(this.vehicle, this.box);
    else this.render();
  }

  async control(action) {
    try {
      const r = await api(this.url("control"), { method: "POST", body: { action } });
      this.holder = r.holder;
      this.note("");
    } catch (err) {
      this.holder = err.body?.holder || this.holder;
      this.note(err.message, true);
    }
    this.render();
  }

  // poll reads again the shown vehicle's commands that are still under
  // way: the live feed drops the oldest updates for a browser that falls
  // behind, and a command's outcome must not be one of them.
  async poll() {
    if (!this.vehicle) return;
    const pending = [...this.commands.values()].filter((c) => !FINAL.has(c.state));
    for (const c of pending) {
      try {
        this.merge(await api(this.url(`commands/${encodeURIComponent(c.id)}`)));
      } catch {
        // gone or unreachable: the next poll tries again
      }
    }
    if (pending.length) this.render();
  }

  async renew() {
    if (this.vehicle && this.mine()) {
      try {
        const r = await api(this.url("control"), { method: "POST", body: { action: "take" } });
        this.holder = r.holder;
      } catch {
        // lapsed or taken over: the next render says so
      }
    }
  }

  // send posts a command; a 428 asks the operator to confirm it first.
  async send(body, confirmed = false) {
    try {
      const c = await api(this.url("commands"), { method: "POST", body: confirmed ? { ...body, confirm: true } : body });
      this.merge(c);
      this.note("");
      this.render();
      return c;
    } catch (err) {
      if (err instanceof ApiError && err.status === 428) {
        this.ask(err.body?.confirm || err.message, () => this.send(body, true));
        return null;
      }
      this.note(`${body.command}: ${err.message}`, true);
      return null;
    }
  }

  // ask shows a confirmation for a command; it stays until answered.
  ask(why, yes) {
    this.pending = { why, yes };
    this.render();
  }

  note(text, bad) {
    const n = this.box?.querySelector(".c-note");
    if (!n) return;
    n.textContent = text;
    n.classList.toggle("bad", !!bad);
  }

  alt() {
    const v = Number(this.box?.querySelector(".c-alt")?.value);
    return Number.isFinite(v) && v > 0 ? v : 20;
  }

  // Picking on the map: a go-to target, or a patrol's waypoints.
  startPick(kind) {
    this.cancelPick();
    this.pick = { kind, points: [], markers: [] };
    this.map.getCanvas().style.cursor = "crosshair";
    this.render();
  }

  cancelPick() {
    for (const m of this.pick?.markers || []) m.remove();
    this.pick = null;
    if (this.map) this.map.getCanvas().style.cursor = "";
    this.drawPlan();
  }

  clicked(e) {
    if (!this.pick) return;
    const p = [e.lngLat.lng, e.lngLat.lat];
    if (this.pick.kind === "goto") {
      for (const m of this.pick.markers) m.remove();
      this.pick.points = [p];
      const el = document.createElement("div");
      el.className = "goto-target";
      this.pick.markers = [new Marker({ element: el }).setLngLat(p).addTo(this.map)];
    } else {
      this.pick.points.push(p);
    }
    this.drawPlan();
    this.render();
  }

  async sendPick() {
    const pick = this.pick;
    if (!pick?.points.length) return;
    const alt = this.alt();
    if (pick.kind === "goto") {
      const [lon, lat] = pick.points[0];
      const c = await this.send({ command: "goto", lat, lon, alt });
      if (c) this.cancelPick();
      return;
    }
    const waypoints = pick.points.map(([lon, lat]) => ({ lat, lon, alt }));
    const up = await this.send({ command: "mission", waypoints, end: "rtl" });
    if (!up) return;
    this.cancelPick();
    // Start it once the vehicle holds it (read back and compared).
    const started = Date.now();
    const wait = async () => {
      const c = this.commands.get(up.id);
      if (c?.state === "done") return this.send({ command: "mission_start" });
      if (FINAL.has(c?.state) || Date.now() - started > 60000) return null;
      setTimeout(wait, 250);
    };
    wait();
  }

  // drawPlan draws the vehicle's confirmed mission (its current waypoint
  // larger), or the patrol being drawn.
  drawPlan() {
    const src = this.map?.getSource("mission");
    if (!src) return;
    const features = [];
    const v = this.state.vehicles.get(this.vehicle)?.v;
    const add = (pts, draft, current) => {
      if (pts.length > 1) features.push({ type: "Feature", geometry: { type: "LineString", coordinates: pts }, properties: { draft } });
      pts.forEach((p, i) => features.push({ type: "Feature", geometry: { type: "Point", coordinates: p }, properties: { draft, current: current === i + 1 } }));
    };
    if (this.pick?.kind === "patrol") add(this.pick.points, true, -1);
    const plan = this.info?.plan?.mission || [];
    if (plan.length) add(plan.map((w) => [w.lon, w.lat]), false, v?.mission?.current ?? -1);
    src.setData({ type: "FeatureCollection", features });
  }

  // render draws the section: who controls it, the commands, the last ones.
  render() {
    const box = this.box;
    if (!box || !this.vehicle) return;
    if (!this.can()) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const v = this.state.vehicles.get(this.vehicle)?.v || {};
    const me = this.mine();
    const admin = this.state.user?.role === "admin";
    const h = this.holder;
    const lim = this.info?.limits;
    box.replaceChildren();
    const head = document.createElement("div");
    head.className = "c-head";
    const who = document.createElement("span");
    who.className = "c-holder";
    who.textContent = h ? (me ? "You control it" : `${h.user} controls it`) : "Nobody controls it";
    head.append(who);
    const btn = (label, cls, fn, disabled) => {
      const b = document.createElement("button");
      b.textContent = label;
      b.className = cls;
      b.disabled = !!disabled;
      b.onclick = fn;
      return b;
    };
    if (!h) head.append(btn("Take control", "c-take", () => this.control("take")));
    else if (me) head.append(btn("Release", "c-release", () => this.control("release")));
    else if (admin) head.append(btn("Take over", "c-takeover", () => this.control("takeover")));
    box.append(head);

    const confirm = document.createElement("div");
    confirm.className = "c-confirm";
    confirm.hidden = !this.pending;
    const why = document.createElement("span");
    why.textContent = this.pending ? `Confirm: ${this.pending.why}?` : "";
    confirm.append(why, " ", btn("Confirm", "yes", () => {
      const p = this.pending;
      this.pending = null;
      this.render();
      p?.yes();
    }), " ", btn("Cancel", "no", () => {
      this.pending = null;
      this.render();
    }));
    box.append(confirm);

    const lost = v.link_health?.state === "lost";
    const off = !me || lost;
    const grid = document.createElement("div");
    grid.className = "c-grid";
    const altIn = document.createElement("input");
    altIn.type = "number";
    altIn.className = "c-alt";
    altIn.min = lim?.floor ?? 1;
    altIn.max = lim?.ceiling ?? 120;
    altIn.value = this.lastAlt ?? 20;
    altIn.title = "Altitude above home, m";
    altIn.oninput = () => (this.lastAlt = altIn.value);
    const altLabel = document.createElement("label");
    altLabel.textContent = "alt m ";
    altLabel.append(altIn);
    grid.append(
      btn(v.armed ? "Disarm" : "Arm", "c-arm", () => this.send({ command: v.armed ? "disarm" : "arm" }), off),
      btn("Take off", "c-takeoff", () => this.send({ command: "takeoff", alt: this.alt() }), off),
      btn("Go to…", "c-goto", () => this.startPick("goto"), off),
      btn("Hold", "c-hold", () => this.send({ command: "hold" }), off),
      btn("Patrol…", "c-patrol", () => this.startPick("patrol"), off),
      btn("Pause", "c-pause", () => this.send({ command: "pause" }), off),
      btn("Resume", "c-resume", () => this.send({ command: "resume" }), off),
      btn("RTL", "c-rtl", () => this.send({ command: "rtl" }), off),
      btn("Land", "c-land", () => this.send({ command: "land" }), off),
      btn("Send fences", "c-fence", () => this.send({ command: "fence" }), off),
      altLabel,
    );
    if (this.info?.modes?.length) {
      const sel = document.createElement("select");
      sel.className = "c-mode";
      sel.disabled = off;
      sel.append(new Option("mode…", ""), ...this.info.modes.map((m) => new Option(m, m)));
      sel.onchange = () => sel.value && this.send({ command: "mode", mode: sel.value });
      grid.append(sel);
    }
    box.append(grid);

    if (this.pick) {
      const p = document.createElement("div");
      p.className = "c-pick";
      const n = this.pick.points.length;
      const text = document.createElement("span");
      if (this.pick.kind === "goto") {
        const t = this.pick.points[0];
        text.textContent = t ? `Go to ${t[1].toFixed(6)}, ${t[0].toFixed(6)} at ${this.alt()} m` : "Click the map where it should go";
      } else {
        text.textContent = n ? `Patrol of ${n} waypoint${n > 1 ? "s" : ""} at ${this.alt()} m, then home` : "Click the map for each waypoint";
      }
      p.append(text, btn("Send", "c-send", () => this.sendPick(), !n), btn("Cancel", "c-cancel", () => this.cancelPick() || this.render()));
      box.append(p);
    }

    const note = document.createElement("div");
    note.className = "c-note";
    if (lost) note.textContent = "Link lost: nothing can be sent.";
    if (lim) note.title = `ceiling ${lim.ceiling} m · floor ${lim.floor} m · take-off battery ≥ ${lim.min_takeoff_battery} %`;
    box.append(note);

    const list = document.createElement("ol");
    list.className = "c-list";
    const recent = [...this.commands.values()].sort((a, b) => Date.parse(b.updated || b.created) - Date.parse(a.updated || a.created)).slice(0, 8);
    for (const c of recent) {
      const li = document.createElement("li");
      li.className = `c-${c.state}`;
      li.dataset.id = c.id;
      li.dataset.command = c.command;
      li.dataset.state = c.state;
      const prog = c.progress && !FINAL.has(c.state) ? ` ${c.progress}%` : "";
      li.textContent = `${c.command} · ${c.state.replace("_", " ")}${prog}${c.result && c.result !== "accepted" ? ` (${c.result})` : ""}${c.text ? " — " + c.text : ""}`;
      list.append(li);
    }
    box.append(list);
    this.drawPlan();
  }
}
