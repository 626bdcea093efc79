// What the chapter-6 pages share: small DOM and SVG helpers, the API call, number
// formatting, histograms and line charts drawn from the server's numbers, and the live
// runs of the two training pages (start, follow by server-sent events, stop, save).
// Nothing here computes a number of the experiments: the server sends them all.

import { message, t } from "./i18n.js";
import { $, api, el, svgEl } from "./labkit.js";

// The lab's shared helpers, as the chapter-6 scripts import them from here.
export { $, el, svgEl, api };

// A number as the page shows it: `digits` significant digits, a true minus sign.
export function fmt(v, digits = 4) {
  if (v == null || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  const s = a >= 1e5 || a < 1e-4 ? v.toExponential(digits - 1).replace(/\.?0+e/, "e")
    : String(Number(v.toPrecision(digits)));
  return s.replace(/-/g, "−");
}

// A number inside a formula: negative ones in parentheses.
export const term = (v, digits = 4) => (v < 0 ? `(${fmt(v, digits)})` : fmt(v, digits));

export const pct = (p) => (p == null ? "–" : (100 * p).toFixed(1) + "%");

// An error or a page word kept as data, so a language switch words it again.
export function noteText(note) {
  if (!note) return "";
  return note.body ? message(note.body, t("error.unknown")) : t(note.key, note.vars || {});
}

// ------------------------------------------------------------------ histograms

// Bars of `hist` ({counts, edges, below, above}) in `svg` (viewBox 0 0 W H), the tallest
// reaching `yMax` (default: its own tallest); the range's ends written under it.
export function drawHistogram(svg, hist, { color = "#1f6feb", yMax = null, W = 200, H = 120,
                                          labels = true } = {}) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (!hist) return;
  const B = labels ? 16 : 2, top = 4, n = hist.counts.length;
  const most = yMax || Math.max(...hist.counts, 1);
  const bw = W / n;
  svg.append(svgEl("line", { x1: 0, x2: W, y1: H - B, y2: H - B, stroke: "#c9ced6" }));
  hist.counts.forEach((c, i) => {
    const h = (H - B - top) * Math.min(c / most, 1);
    if (c > 0) {
      svg.append(svgEl("rect", { x: i * bw + 0.5, width: Math.max(bw - 1, 0.5),
                                 y: H - B - Math.max(h, 0.8), height: Math.max(h, 0.8),
                                 fill: color, "data-count": c }));
    }
  });
  if (labels) {
    const lo = hist.edges[0], hi = hist.edges[hist.edges.length - 1];
    svg.append(svgEl("text", { x: 1, y: H - 3, class: "tick" }, fmt(lo, 3)));
    svg.append(svgEl("text", { x: W - 1, y: H - 3, "text-anchor": "end", class: "tick" }, fmt(hi, 3)));
    if (lo < 0 && hi > 0) {
      const x0 = W * (-lo) / (hi - lo);
      svg.append(svgEl("line", { x1: x0, x2: x0, y1: H - B, y2: H - B + 4, stroke: "#9aa1ad" }));
      svg.append(svgEl("text", { x: x0, y: H - 3, "text-anchor": "middle", class: "tick" }, "0"));
    }
  }
}

// ------------------------------------------------------------------ line charts

function niceStep(span, ticks) {
  const raw = span / ticks, p = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
}

// series: [{points: [[x, y]...], color, dash, width, opacity, cls}]; bands: [{upper,
// lower, color}] shaded between two series' points (same x); marks: [{x, y1, y2, text}]
// a vertical bracket with a label (the train-test gap).
export function drawChart(svg, { xMax, yMax = 1, series = [], bands = [], marks = [],
                                 percent = true, xLabel = "" }) {
  // drawn at the size it is shown, so that its words stay readable on a phone
  const W = Math.round(Math.min(Math.max(svg.clientWidth || 560, 300), 720));
  const H = Math.round(W < 480 ? W * 0.7 : W * 0.46);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const L = 44, R = marks.length > 1 ? 112 : 60, T = 10, B = 34;
  const x = (v) => L + (W - L - R) * v / Math.max(xMax, 1e-9);
  const y = (v) => T + (H - T - B) * (1 - Math.min(Math.max(v, 0), yMax) / yMax);
  const ys = niceStep(yMax, 4);
  for (let v = 0; v <= yMax + 1e-9; v += ys) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
    svg.append(svgEl("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" },
      percent ? Math.round(v * 100) + "%" : String(Number(v.toPrecision(3)))));
  }
  const xs = niceStep(Math.max(xMax, 1), 5);
  for (let v = 0; v <= xMax + 1e-9; v += xs) {
    svg.append(svgEl("text", { x: x(v), y: H - 18, "text-anchor": "middle", class: "tick" }, String(v)));
  }
  if (xLabel) svg.append(svgEl("text", { x: (L + W - R) / 2, y: H - 3, "text-anchor": "middle", class: "axis" }, xLabel));
  svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "#9ca3af" }));
  for (const band of bands) {
    const up = band.upper, lo = band.lower;
    if (up.length < 2 || lo.length !== up.length) continue;
    const pts = [...up.map(([a, b]) => `${x(a)},${y(b)}`), ...[...lo].reverse().map(([a, b]) => `${x(a)},${y(b)}`)];
    svg.append(svgEl("polygon", { points: pts.join(" "), fill: band.color, class: "band" }));
  }
  for (const s of series) {
    const pts = s.points.filter((p) => p[1] != null);
    if (!pts.length) continue;
    const attrs = { fill: "none", stroke: s.color, "stroke-width": s.width || 2,
                    "stroke-dasharray": s.dash || "", "stroke-linejoin": "round",
                    opacity: s.opacity ?? 1, class: s.cls || "" };
    if (pts.length === 1) pts.push(pts[0]);
    attrs.points = pts.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(" ");
    svg.append(svgEl("polyline", attrs));
    const [lx, ly] = pts[pts.length - 1];
    svg.append(svgEl("circle", { cx: x(lx), cy: y(ly), r: 3, fill: s.color, opacity: s.opacity ?? 1, class: s.cls ? s.cls + "-end" : "" }));
  }
  for (const m of marks) {
    const [a, b] = [y(m.y1), y(m.y2)], at = x(m.x) + 8 + (m.offset || 0);
    const g = svgEl("g", { class: "gap-mark" });
    g.append(svgEl("line", { x1: at, x2: at, y1: a, y2: b, stroke: m.color, "stroke-width": 2 }));
    for (const yy of [a, b]) g.append(svgEl("line", { x1: at - 4, x2: at + 4, y1: yy, y2: yy, stroke: m.color, "stroke-width": 2 }));
    g.append(svgEl("text", { x: at + 6, y: (a + b) / 2 + 4, fill: m.color, class: "gap-text" }, m.text));
    svg.append(g);
  }
}

// ------------------------------------------------------------------ live runs

// One training page's runs: start one (a second start while one trains answers 409 and
// the page follows that run instead), follow its events (a new tab follows the latest
// run), stop it, save its curves. handlers: onRun(run) when a run is attached,
// onEvent(event, run) for each event, onNote(note) for what to tell the learner.
export class LiveRuns {
  constructor(kind, handlers) {
    this.kind = kind;
    this.h = handlers;
    this.run = null;
    this.source = null;
    this.presets = null;
    this.pending = null; // a form to start once the run being stopped has ended
    this.starting = false; // a start is on its way to the server
  }

  get running() {
    return !!(this.run && !this.run.end);
  }

  // A training page's Start, Stop and Save buttons (#start, #stop, #save); a save sets
  // state.saved (what the server saved) or state.note (its error), then renderNote().
  wireButtons(form, state, renderNote) {
    $("#start").addEventListener("click", () => this.restart(form()));
    $("#stop").addEventListener("click", () => this.stop());
    $("#save").addEventListener("click", async () => {
      try {
        state.saved = await this.save();
        state.note = null;
      } catch (err) {
        state.saved = null;
        state.note = { body: err.data || { error: err.message } };
      }
      renderNote();
    });
  }

  async load() {
    const latest = await api("GET", `/api/ch6/${this.kind}/latest`);
    this.presets = latest.presets;
    if (latest.run) this.attach(latest.run);
    this.watch();
    return latest;
  }

  attach(id) {
    if (this.source) this.source.close();
    this.run = { id, start: null, events: [], end: null };
    const run = this.run;
    this.source = new EventSource(`/api/ch6/${this.kind}/${encodeURIComponent(id)}/events`);
    this.source.onmessage = (m) => {
      const e = JSON.parse(m.data);
      if (this.run !== run) return;
      if (e.type === "start") run.start = e;
      else if (e.type === "end") run.end = e;
      else run.events.push(e);
      this.h.onEvent(e, run);
      if (e.type === "end") this.ended(run);
    };
    this.h.onRun(run);
  }

  async ended(run) {
    if (this.source) this.source.close();
    this.source = null;
    if (this.pending) {
      const form = this.pending;
      this.pending = null;
      await this.start(form);
    }
  }

  // While the page's run is not training, look now and then for a run another tab
  // started, and follow it.
  watch(every = 2000) {
    setInterval(async () => {
      if (this.running || this.starting || this.pending) return;
      try {
        const latest = await api("GET", `/api/ch6/${this.kind}/latest`);
        if (latest.run && (!this.run || latest.run !== this.run.id) &&
            (latest.status === "running" || latest.status === "starting")) {
          this.h.onNote({ key: "run.other" });
          this.attach(latest.run);
        }
      } catch (e) { /* the page keeps what it shows */ }
    }, every);
  }

  async start(form) {
    this.h.onNote(null);
    this.starting = true;
    try {
      const answer = await api("POST", `/api/ch6/${this.kind}`, form);
      this.attach(answer.run);
    } catch (err) {
      const body = err.data || { error: err.message };
      if (body.running) {
        this.h.onNote({ key: "run.busy" });
        if (!this.run || this.run.id !== body.running) this.attach(body.running);
      } else {
        this.h.onNote({ body });
      }
    } finally {
      this.starting = false;
    }
    if (this.pending && this.running) await this.stop(); // outdated already: the next starts at its end
  }

  // Start `form`, stopping the run on the page first if it is still training; the last
  // of several quick changes wins.
  async restart(form) {
    if (this.starting || this.running) {
      this.pending = form;
      if (!this.starting) await this.stop();
    } else {
      await this.start(form);
    }
  }

  async stop() {
    if (!this.run) return;
    try { await api("POST", `/api/ch6/${this.kind}/${encodeURIComponent(this.run.id)}/stop`); } catch (e) { /* ended */ }
  }

  async save() {
    if (!this.run) return null;
    return api("POST", `/api/ch6/${this.kind}/${encodeURIComponent(this.run.id)}/save`);
  }
}

// The log-scale slider's position for `v`, and the value of a position, 3 digits.
export const toLog = (v) => Math.log10(v);
export const fromLog = (p) => Number(Math.pow(10, Number(p)).toPrecision(3));
