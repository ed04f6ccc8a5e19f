// The video wall: 1, 4, 9 or 16 tiles, each playing a camera live. The
// layout and each tile's camera are kept in the browser (localStorage).
import { esc } from "./escape.js";
import { Player } from "./player.js";

const LAYOUTS = [1, 4, 9, 16];

export class Wall {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.players = [];
    const saved = JSON.parse(localStorage.getItem("smarteye.wall") || "{}");
    this.layout = LAYOUTS.includes(saved.layout) ? saved.layout : 4;
    this.choice = Array.isArray(saved.cameras) ? saved.cameras : [];
    el.innerHTML = `<div class="wall-bar">Layout ${LAYOUTS.map((n) => `<button data-n="${n}">${n}</button>`).join("")}
      <span class="wall-hint"></span></div><div class="wall-grid"></div>`;
    this.grid = el.querySelector(".wall-grid");
    for (const b of el.querySelectorAll(".wall-bar button")) b.onclick = () => this.setLayout(Number(b.dataset.n));
  }

  save() {
    localStorage.setItem("smarteye.wall", JSON.stringify({ layout: this.layout, cameras: this.choice }));
  }

  setLayout(n) {
    this.layout = n;
    this.save();
    if (this.shown) this.show();
  }

  // show builds the tiles; hide stops every stream (no bandwidth spent on
  // a wall nobody looks at).
  show() {
    this.shown = true;
    this.hide(true);
    // Cameras with a video stream (a drone's footprint-only camera has none).
    const ids = this.cameraIds();
    this.ids = ids.join("\n");
    for (const b of this.el.querySelectorAll(".wall-bar button")) b.classList.toggle("on", Number(b.dataset.n) === this.layout);
    this.el.querySelector(".wall-hint").textContent = ids.length ? "" : "No cameras are configured.";
    const side = Math.sqrt(this.layout);
    this.grid.style.gridTemplateColumns = `repeat(${side}, 1fr)`;
    this.grid.style.gridTemplateRows = `repeat(${side}, 1fr)`;
    for (let i = 0; i < this.layout; i++) {
      const cell = document.createElement("div");
      cell.className = "cell";
      const pick = document.createElement("select");
      pick.innerHTML = `<option value="">— empty —</option>` + ids.map((id) => `<option value="${esc(id)}">${esc(this.app.cameras.get(id)?.name || id)}</option>`).join("");
      const id = this.choice[i] !== undefined ? this.choice[i] : ids[i % Math.max(ids.length, 1)] || "";
      pick.value = ids.includes(id) ? id : "";
      const box = document.createElement("div");
      box.className = "tile-box";
      cell.append(box, pick);
      this.grid.append(cell);
      const play = () => {
        this.players[i]?.close();
        this.players[i] = pick.value ? new Player(box, pick.value, this.app, { mode: this.app.videoMode }) : null;
        if (!pick.value) box.innerHTML = `<div class="message">Choose a camera</div>`;
      };
      pick.onchange = () => {
        this.choice[i] = pick.value;
        this.save();
        play();
      };
      play();
    }
  }

  cameraIds() {
    return [...this.app.cameras.values()].filter((c) => c.status !== "no video").map((c) => c.id).sort();
  }

  // refresh builds the tiles again when the cameras with video changed
  // while the wall is shown (it may be shown before the live feed has
  // said which cameras there are).
  refresh() {
    if (this.shown && this.cameraIds().join("\n") !== this.ids) this.show();
  }

  hide(rebuilding = false) {
    for (const p of this.players) p?.close();
    this.players = [];
    this.grid.innerHTML = "";
    if (!rebuilding) this.shown = false;
  }

  stats() {
    return this.players.filter(Boolean).map((p) => p.stats);
  }
}
