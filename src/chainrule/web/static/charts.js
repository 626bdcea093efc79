// The training charts the lab's pages share (the network lab, the convnet lab): the
// mini-batch loss and the train/test accuracy of a live run, drawn as SVG from its events
// ({created, progress, evals, end}).
//
// The loss chart holds every mini-batch's loss, as the server's progress events carry it:
// for each stretch of `progress_every` steps their mean (the line) and their lowest and
// highest (the band). The end's "not learning" note quotes single mini-batches (step 1's
// loss and the highest), and the chart marks the highest, at its step; a run that
// diverged is marked at the step the library stopped it.

import { t } from "./i18n.js";
import { fmtNum, svgEl } from "./labkit.js";

export function niceStep(span, ticks) {
  const raw = span / ticks, p = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
}

// the axes, their numbers and the series' lines; bands: boxes over stretches of steps;
// marks: a circled point (or, valueless, a line at the top) with words
export function drawChart(svg, { xMax, yMax, series, percent, bands = [], marks = [] }) {
  svg.replaceChildren();
  const W = 420, H = 220, L = 44, R = 22, T = 10, B = 26;
  const x = (v) => L + (W - L - R) * v / xMax, y = (v) => T + (H - T - B) * (1 - v / yMax);
  const ys = niceStep(yMax, 4);
  for (let v = 0; v <= yMax + 1e-9; v += ys) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
    const label = svgEl("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" });
    label.textContent = percent ? Math.round(v * 100) + "%" : Number(v.toPrecision(3));
    svg.append(label);
  }
  const xs = niceStep(xMax, 5);
  for (let v = 0; v <= xMax + 1e-9; v += xs) {
    const label = svgEl("text", { x: x(v), y: H - 8, "text-anchor": "middle" });
    label.textContent = v >= 10000 ? (v / 1000) + "k" : String(v);
    svg.append(label);
  }
  svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "#9ca3af" }));
  const at = { x, y, yMax, W, R, T };
  for (const b of bands) drawBand(svg, b, at);
  for (const s of series) {
    if (!s.points.length) continue;
    const pts = s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(Math.min(Math.max(b, 0), yMax)).toFixed(1)}`);
    if (pts.length === 1) {  // one number so far: a dot, not an invisible line
      const [cx, cy] = pts[0].split(",");
      svg.append(svgEl("circle", { cx, cy, r: 3, fill: s.color, class: s.cls }));
      pts.push(pts[0]);
    }
    svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 2,
                                   "stroke-dasharray": s.dash || "", "stroke-linejoin": "round", class: s.cls }));
  }
  for (const m of marks) drawMark(svg, m, at, xMax);
}

// [from, to, low, high] ...: a box over each stretch of steps
function drawBand(svg, b, { x, y, yMax }) {
  const clip = (v) => y(Math.min(Math.max(v, 0), yMax));
  const d = b.points.map(([from, to, lo, hi]) => {
    const x0 = x(from).toFixed(1), x1 = Math.max(x(to), x(from) + 0.5).toFixed(1);
    return `M${x0},${clip(hi).toFixed(1)}H${x1}V${Math.max(clip(lo), clip(hi) + 0.5).toFixed(1)}H${x0}Z`;
  }).join("");
  if (d) svg.append(svgEl("path", { d, fill: b.color, class: b.cls }));
}

function drawMark(svg, m, { x, y, yMax, W, R, T }, xMax) {
  const mx = x(Math.min(m.at, xMax));
  const anchor = mx > W - R - 80 ? "end" : "start";
  const dx = anchor === "end" ? -6 : 6;
  if (m.value == null) { // off the chart (a step the library stopped): a line and words at the top
    svg.append(svgEl("line", { x1: mx, x2: mx, y1: T, y2: y(0), stroke: "#b91c1c", "stroke-dasharray": "3 3",
                               class: m.cls }));
    const label = svgEl("text", { x: mx + dx, y: T + 10, "text-anchor": anchor, class: m.cls + " mark" });
    label.textContent = m.text;
    svg.append(label);
    return;
  }
  const my = y(Math.min(Math.max(m.value, 0), yMax));
  svg.append(svgEl("circle", { cx: mx, cy: my, r: 4.5, fill: "none", stroke: "#b91c1c", "stroke-width": 2,
                               class: m.cls, "data-value": m.value }));
  const label = svgEl("text", { x: mx + dx, y: Math.max(my - 6, T + 10), "text-anchor": anchor, class: m.cls + " mark" });
  label.textContent = m.text;
  svg.append(label);
}

// The points the end's message speaks of, on the loss chart.
function lossMarks(run) {
  const end = run && run.end;
  if (!end) return [];
  const f = end.warning_facts, wp = end.warning_params || {};
  if (f && f.cause === "high" && f.worst_at != null) {
    return [{ at: f.worst_at, value: f.worst_loss, cls: "peak",
              text: t("chart.peak", { i: f.worst_at, loss: wp.worst_loss ?? fmtNum(f.worst_loss) }) }];
  }
  const mp = end.message_params || {};
  if (end.status === "diverged" && mp.iteration != null) {
    return [{ at: mp.iteration, value: null, cls: "diverged",
              text: t("chart.diverged", { i: mp.iteration, loss: mp.loss ?? "?" }) }];
  }
  return [];
}

// A run's loss (loss: its svg; caption: the words over it) and accuracy (acc) so far;
// run null: empty charts.
export function drawRunCharts({ loss, acc, caption }, run) {
  const c = run && run.created;
  const xMax = c ? Math.max(c.iters, 1) : 1000;
  const shown = run ? run.progress.filter((p) => p.loss != null) : [];
  const losses = shown.map((p) => [p.iteration, p.loss]);
  const range = shown.map((p, i) => [i ? shown[i - 1].iteration : c.start_iteration, p.iteration,
                                     p.loss_min ?? p.loss, p.loss_max ?? p.loss]);
  const marks = lossMarks(run);
  // every mini-batch in view: the highest, the one a message may quote, included
  let yMax = 2.5;
  const top = Math.max(...losses.map((p) => p[1]), ...range.map((p) => p[3]), ...marks.map((m) => m.value ?? 0));
  if (losses.length && top > 0) {
    const step = niceStep(top, 4);
    yMax = Math.max(step, Math.ceil(top / step) * step);
  }
  if (caption) {
    caption.textContent = c && c.progress_every ? t("chart.lossMean", { k: c.progress_every }) : t("chart.loss");
  }
  drawChart(loss, { xMax, yMax, series: [{ points: losses, color: "#2563eb", cls: "loss" }],
                    bands: [{ points: range, color: "#bfd3fb", cls: "loss-range" }], marks });
  const evals = run ? [...run.evals] : [];
  const sm = run && run.end && run.end.summary;
  const lastEval = evals[evals.length - 1];
  if (sm && sm.evaluated_at && (!lastEval || sm.evaluated_at > lastEval.iteration + 1)) {
    evals.push({ iteration: sm.evaluated_at, train_acc: sm.train_acc, test_acc: sm.test_acc });
  }
  drawChart(acc, { xMax, yMax: 1, percent: true, series: [
    { points: evals.filter((e) => e.train_acc != null).map((e) => [e.iteration, e.train_acc]), color: "#2563eb", cls: "train" },
    { points: evals.filter((e) => e.test_acc != null).map((e) => [e.iteration, e.test_acc]), color: "#ea580c", dash: "5 4", cls: "test" },
  ] });
}
