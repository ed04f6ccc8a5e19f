// Which detection boxes to draw over a video picture. The detector sees
// only some of the pictures (on a busy machine one in five or fewer), and
// its results may arrive after the picture is on screen. Holding the last
// result until the next one leaves boxes behind walkers and on the road
// where somebody was; instead:
//   - a picture the detector saw gets exactly its boxes;
//   - between two analysed pictures, a track's box moves linearly from
//     one to the other (a track missing from the later one is drawn only
//     while its picture is the nearer);
//   - after the newest analysed picture, a track's box moves on with the
//     velocity of its last two sightings, for at most MAX_AHEAD_MS;
//   - a box with no motion to go by (a new track, an untracked object) is
//     drawn for at most one and a half analysis intervals (and
//     MAX_AHEAD_MS).

export const EXACT_MS = 20; // a picture within this of an analysed one is that one
export const MAX_GAP_MS = 3000; // sightings further apart are not joined
// A box is carried ahead, or held, at most this far past its picture: no
// longer than the old rule held one, so that no box stays where nobody
// is any longer than it did.
export const MAX_AHEAD_MS = 1500;

// interval is the usual time between analysed pictures (the median).
function interval(frames) {
  const d = [];
  for (let i = Math.max(1, frames.length - 12); i < frames.length; i++) d.push(frames[i].t - frames[i - 1].t);
  if (!d.length) return 500;
  d.sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)];
}

const byTrack = (f) => new Map(f.objects.filter((o) => o.track_id).map((o) => [o.track_id, o]));
const lerp = (a, b, k) => a.map((v, i) => v + (b[i] - v) * k);

// boxesAt returns the objects to draw over the picture captured at t
// (Unix ms), from frames (analysed pictures in time order: {t, objects}).
// Each has the detection's fields with box moved to t, and how: "exact",
// "between", "ahead" or "held".
export function boxesAt(frames, t) {
  if (!frames?.length) return [];
  let i = frames.length - 1;
  while (i >= 0 && frames[i].t > t + EXACT_MS) i--;
  const before = i >= 0 ? frames[i] : null;
  const after = frames[i + 1] ?? null;
  if (before && t - before.t <= EXACT_MS) return before.objects.map((o) => ({ ...o, how: "exact" }));
  if (!before) return [];
  const since = t - before.t;
  const hold = Math.min(1.5 * interval(frames.slice(0, i + 1)), MAX_AHEAD_MS);
  const out = [];
  if (after && after.t - before.t <= MAX_GAP_MS) {
    const later = byTrack(after);
    const k = since / (after.t - before.t);
    for (const o of before.objects) {
      const next = o.track_id && later.get(o.track_id);
      if (next) out.push({ ...o, box: lerp(o.box, next.box, k), how: "between" });
      else if (k < 0.5 && since <= hold) out.push({ ...o, how: "held" });
    }
    return out;
  }
  if (since > MAX_AHEAD_MS && since > hold) return [];
  // Ahead of the newest analysed picture: move each track on.
  const prev = i > 0 ? frames[i - 1] : null;
  const earlier = prev && before.t - prev.t <= MAX_GAP_MS ? byTrack(prev) : new Map();
  for (const o of before.objects) {
    const p = o.track_id && earlier.get(o.track_id);
    if (p && since <= MAX_AHEAD_MS) {
      const k = since / (before.t - prev.t);
      const box = o.box.map((v, j) => v + (v - p.box[j]) * k);
      box[2] = Math.max(box[2], 1);
      box[3] = Math.max(box[3], 1);
      out.push({ ...o, box, how: "ahead" });
    } else if (since <= hold) {
      out.push({ ...o, how: "held" });
    }
  }
  return out;
}

// heldBoxes is the old rule, kept to measure against: the newest analysed
// picture captured no later than t, held for up to 1.5 s.
export function heldBoxes(frames, t) {
  for (let i = (frames?.length ?? 0) - 1; i >= 0; i--) {
    if (frames[i].t <= t + EXACT_MS) return t - frames[i].t > 1500 ? [] : frames[i].objects;
  }
  return [];
}
