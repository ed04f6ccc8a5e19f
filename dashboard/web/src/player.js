// A live video tile. WebRTC first (WHEP: one POST of the offer, the answer
// back, the camera's H.264 as it came); fragmented MP4 over a WebSocket into
// Media Source Extensions when WebRTC cannot connect. Detection boxes come
// from the live feed and are drawn over the frame whose capture time they
// carry: the server stamps WebRTC frames with their capture time as the RTP
// timestamp, and tells MSE players the capture time of media time 0.

import { api } from "./api.js";
import { boxesAt } from "./overlay.js";

const WEBRTC_TIMEOUT_MS = 6000; // no frame by then: fall back to MSE
const MSE_LIVE_EDGE_S = 1.0; // further behind than this: skip ahead
const MSE_TARGET_S = 0.1; // behind the newest picture by more than this: play a little faster
export const CLASS_COLOURS = { person: "#ffb000", car: "#4fc3f7", truck: "#4fc3f7", bus: "#4fc3f7", bicycle: "#81c784", motion: "#ce93d8" };

const H265_MIME = 'video/mp4; codecs="hvc1.1.6.L93.B0"';

// playable says whether this browser can show a camera with this codec.
export function playable(codec) {
  if (codec === "H265") return globalThis.MediaSource?.isTypeSupported(H265_MIME) ?? false;
  if (codec === "M-JPEG") return false;
  return true;
}

// rtpToCapture turns a 90 kHz RTP timestamp (capture time modulo 2^32)
// back into Unix milliseconds, taking the wrap nearest to now.
function rtpToCapture(ts, nowMs) {
  const now90 = Math.floor(nowMs * 90) % 4294967296;
  let d = ts - now90;
  if (d > 2147483648) d -= 4294967296;
  if (d < -2147483648) d += 4294967296;
  return nowMs + d / 90;
}

export class Player {
  // el: the tile's element; camera: the camera's id; app: the shared state
  // (cameras, detection frames by camera); opts.mode: "auto", "webrtc", "mse".
  constructor(el, camera, app, opts = {}) {
    this.el = el;
    this.camera = camera;
    this.app = app;
    this.mode = opts.mode || "auto";
    this.stats = { camera, path: "", frames: 0, fps: 0, latency: null, latencies: [], overlays: 0, state: "connecting", message: "" };
    el.classList.add("tile");
    el.innerHTML = `<video muted autoplay playsinline></video><canvas></canvas>
      <div class="caption"><span class="name"></span><span class="badge"></span><span class="meta"></span></div>
      <div class="message">Connecting…</div>`;
    this.video = el.querySelector("video");
    this.canvas = el.querySelector("canvas");
    this.caption = el.querySelector(".caption");
    this.msg = el.querySelector(".message");
    this.closed = false;
    this.frameTimes = [];
    // drawn: what the overlay drew over each picture (capture time, when it
    // was shown, the boxes), for measuring how well boxes stay on people.
    this.drawn = [];
    this.timer = setInterval(() => this.tick(), 500);
    this.start();
  }

  cam() {
    return this.app.cameras.get(this.camera);
  }

  say(text, state) {
    this.msg.textContent = text;
    this.msg.hidden = !text;
    this.stats.message = text;
    if (state) this.stats.state = state;
  }

  async start() {
    const c = this.cam();
    if (c && !playable(c.codec)) {
      this.stats.path = "none";
      this.say(`${c.codec === "H265" ? "H.265" : c.codec} video: this browser cannot play it`, "unplayable");
      return;
    }
    this.watchFrames();
    if (this.mode !== "mse" && globalThis.RTCPeerConnection) {
      try {
        if (await this.webrtc()) return;
      } catch (e) {
        console.info(`${this.camera}: WebRTC failed (${e.message}); using MSE`);
      }
      this.stopWebRTC();
      if (this.closed) return;
    }
    if (this.mode !== "webrtc") this.mse();
  }

  // webrtc resolves true once a frame has arrived, false on timeout.
  async webrtc() {
    this.stats.path = "webrtc";
    this.say("Connecting (WebRTC)…", "connecting");
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (e) => {
      this.video.srcObject = e.streams[0] || new MediaStream([e.track]);
      this.video.play().catch(() => {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      setTimeout(resolve, 2000);
    });
    // A 401 shows the page's login form (api.js).
    const r = await api(`api/v1/cameras/${encodeURIComponent(this.camera)}/whep`, {
      method: "POST", body: pc.localDescription.sdp, type: "application/sdp", raw: true,
    });
    if (r.status !== 201) throw new Error(`WHEP ${r.status}: ${(await r.text()).slice(0, 200)}`);
    this.whepURL = r.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
    const start = this.stats.frames;
    const ok = await new Promise((resolve) => {
      const t0 = Date.now();
      const check = setInterval(() => {
        if (this.closed || this.stats.frames > start) return clearInterval(check), resolve(!this.closed);
        if (Date.now() - t0 > WEBRTC_TIMEOUT_MS || pc.connectionState === "failed") return clearInterval(check), resolve(false);
      }, 100);
    });
    if (ok) {
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "failed" || pc.connectionState === "closed") {
          // The connection went: try again from the top (WebRTC, then MSE).
          this.stopWebRTC();
          if (!this.closed) setTimeout(() => !this.closed && this.start(), 1000);
        }
      };
    }
    return ok;
  }

  stopWebRTC() {
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
    if (this.whepURL) {
      api(this.whepURL.replace(/^\//, ""), { method: "DELETE", relogin: false }).catch(() => {});
      this.whepURL = null;
    }
    this.video.srcObject = null;
  }

  mse() {
    this.stats.path = "mse";
    this.say("Connecting…", "connecting");
    const url = new URL(`api/v1/cameras/${encodeURIComponent(this.camera)}/live`, location.href).href.replace(/^http/, "ws");
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let sb = null;
    let queue = [];
    // pump appends everything that has arrived in one appendBuffer: each
    // append costs a round trip through the media pipeline, and a busy
    // renderer doing one per picture fell ever further behind the camera.
    const pump = () => {
      if (!sb || sb.updating || !queue.length) return;
      let data = queue[0];
      if (queue.length > 1) {
        const all = new Uint8Array(queue.reduce((n, b) => n + b.byteLength, 0));
        let at = 0;
        for (const b of queue) {
          all.set(new Uint8Array(b), at);
          at += b.byteLength;
        }
        data = all;
      }
      queue = [];
      try {
        sb.appendBuffer(data);
      } catch (e) {
        // Quota or a decode error: start again.
        console.warn(`${this.camera}: MSE append failed: ${e.message}`);
        ws.close();
      }
    };
    ws.onmessage = (m) => {
      if (typeof m.data === "string") {
        const init = JSON.parse(m.data);
        if (init.type !== "init") return;
        if (!MediaSource.isTypeSupported(init.mime)) {
          this.say(`${init.codec === "H265" ? "H.265" : init.codec} video: this browser cannot play it`, "unplayable");
          this.stats.path = "none";
          ws.onclose = null;
          ws.close();
          return;
        }
        this.origin = init.origin;
        queue = [];
        const ms = new MediaSource();
        if (this.video.src) URL.revokeObjectURL(this.video.src);
        this.video.srcObject = null;
        this.video.src = URL.createObjectURL(ms);
        ms.addEventListener("sourceopen", () => {
          const buf = ms.addSourceBuffer(init.mime);
          sb = buf;
          sb.mode = "segments";
          buf.addEventListener("updateend", () => {
            // The socket may have closed (sb = null) or reconnected (a new
            // buffer) since this append began: this buffer is done with.
            if (sb !== buf) return;
            const b = sb.buffered;
            if (b.length) {
              const end = b.end(b.length - 1);
              // Stay at the live edge: skip ahead when far behind, catch up by
              // playing 10 % faster when a little behind; keep ten seconds.
              const behind = end - this.video.currentTime;
              if (behind > MSE_LIVE_EDGE_S || this.video.currentTime < b.start(0)) this.video.currentTime = Math.max(b.start(b.length - 1), end - 0.05);
              this.video.playbackRate = behind > MSE_TARGET_S ? 1.1 : 1;
              if (b.start(0) < end - 10 && !sb.updating) {
                sb.remove(0, end - 10);
                return;
              }
            }
            if (this.video.paused) this.video.play().catch(() => {});
            pump();
          });
          pump();
        }, { once: true });
        return;
      }
      queue.push(m.data);
      if (queue.length > 120) queue.splice(0, queue.length - 120); // a stalled decoder must not grow this forever
      pump();
    };
    ws.onclose = () => {
      if (this.closed) return;
      sb = null;
      this.say("Reconnecting…", "reconnecting");
      // A closed socket can mean a logged-out session: the app checks.
      this.app.checkLogin?.();
      this.retry = setTimeout(() => !this.closed && this.mse(), 2000);
    };
  }

  // watchFrames counts the frames shown and keeps the capture time of the
  // one on screen, for the latency and the overlay.
  watchFrames() {
    if (this.watching) return;
    this.watching = true;
    const v = this.video;
    if (!v.requestVideoFrameCallback) return;
    const onFrame = (now, meta) => {
      if (this.closed) return;
      const wall = performance.timeOrigin + (meta.presentationTime ?? now);
      let capture = null;
      if (this.stats.path === "webrtc" && meta.rtpTimestamp !== undefined) capture = rtpToCapture(meta.rtpTimestamp, wall);
      else if (this.stats.path === "mse" && this.origin !== undefined) capture = this.origin + meta.mediaTime * 1000;
      this.stats.frames++;
      this.frameTimes.push(wall);
      if (capture !== null) {
        this.capture = capture;
        this.shownAt = wall;
        this.stats.latencies.push(wall - capture);
        if (this.stats.latencies.length > 100) this.stats.latencies.shift();
      }
      this.say("", "playing");
      this.draw(meta.width, meta.height);
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }

  // draw puts the boxes of the detection frame matching the picture on screen.
  draw(fw, fh) {
    const cv = this.canvas;
    const rect = this.video.getBoundingClientRect();
    if (cv.width !== Math.round(rect.width) || cv.height !== Math.round(rect.height)) {
      cv.width = Math.round(rect.width);
      cv.height = Math.round(rect.height);
    }
    const ctx = cv.getContext("2d");
    ctx.clearRect(0, 0, cv.width, cv.height);
    const frames = this.app.detectionFrames?.get(this.camera);
    if (!frames?.length || this.capture === undefined) return;
    // Each box on the picture it was found in, or moved with its track
    // between and after the analysed pictures (overlay.js).
    const objects = boxesAt(frames, this.capture);
    this.drawn.push({ capture: this.capture, shown: this.shownAt, boxes: objects.map((o) => ({ id: o.track_id, box: o.box, how: o.how })) });
    if (this.drawn.length > 2000) this.drawn.splice(0, 1000);
    if (!objects.length) return;
    // The video is letterboxed into the element (object-fit: contain).
    const latest = frames[frames.length - 1];
    const w = latest.width || fw, h = latest.height || fh;
    const scale = Math.min(cv.width / w, cv.height / h);
    const ox = (cv.width - w * scale) / 2, oy = (cv.height - h * scale) / 2;
    ctx.lineWidth = 2;
    ctx.font = "12px system-ui, sans-serif";
    for (const o of objects) {
      const col = CLASS_COLOURS[o.class] || "#ffb000";
      const [x, y, bw, bh] = o.box;
      ctx.strokeStyle = col;
      ctx.strokeRect(ox + x * scale, oy + y * scale, bw * scale, bh * scale);
      // Track ids are unique over time (long): their last digits tell tracks apart on screen.
      const label = `${o.class}${o.track_id ? " #" + (o.track_id % 10000) : ""} ${Math.round(o.confidence * 100)}%`;
      ctx.fillStyle = col;
      ctx.fillRect(ox + x * scale, oy + y * scale - 15, ctx.measureText(label).width + 6, 15);
      ctx.fillStyle = "#000";
      ctx.fillText(label, ox + x * scale + 3, oy + y * scale - 3);
    }
    this.stats.overlays++;
  }

  tick() {
    const now = performance.timeOrigin + performance.now();
    this.frameTimes = this.frameTimes.filter((t) => now - t < 2000);
    this.stats.fps = this.frameTimes.length / 2;
    const l = [...this.stats.latencies].sort((a, b) => a - b);
    this.stats.latency = l.length ? l[Math.floor(l.length / 2)] : null;
    const c = this.cam();
    const status = c?.status || "unknown";
    this.caption.querySelector(".name").textContent = c?.name || this.camera;
    const badge = this.caption.querySelector(".badge");
    badge.textContent = status;
    badge.className = `badge ${status}`;
    this.caption.querySelector(".meta").textContent = [
      this.stats.path && this.stats.path !== "none" ? this.stats.path.toUpperCase() : "",
      this.stats.frames ? `${this.stats.fps.toFixed(0)} fps` : "",
      this.stats.latency !== null ? `${Math.round(this.stats.latency)} ms` : "",
    ].filter(Boolean).join(" · ");
    if (this.stats.state !== "unplayable") {
      if (status === "down") this.say(`Camera down${c?.reason ? ": " + c.reason : ""}`, "down");
      else if (status === "stalled") this.say("Camera stalled: no pictures arriving", "stalled");
      else if (this.stats.state === "down" || this.stats.state === "stalled") this.say("Waiting for pictures…", "connecting");
    }
  }

  close() {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.stopWebRTC();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
    }
    if (this.video.src) URL.revokeObjectURL(this.video.src);
    this.el.innerHTML = "";
  }
}
