// The training charts the lab's pages share: the mini-batch loss and the train/test
// accuracy of a live run, drawn as SVG from its events ({created, progress, evals, end}).

import { svgEl } from "./labkit.js";

export function niceStep(span, ticks) {
  const raw = span / ticks, p = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
}

export function drawChart(svg, { xMax, yMax, series, percent }) {
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
}

// a run's loss (lossSvg) and accuracy (accSvg) so far; run null: empty charts
export function drawRunCharts(lossSvg, accSvg, run) {
  const c = run && run.created;
  const xMax = c ? Math.max(c.iters, 1) : 1000;
  const losses = run ? run.progress.filter((p) => p.loss != null).map((p) => [p.iteration, p.loss]) : [];
  let yMax = 2.5;
  if (losses.length) {
    const vals = losses.map((p) => p[1]).sort((a, b) => a - b);
    const p90 = vals[Math.floor(0.9 * (vals.length - 1))];
    yMax = Math.min(vals[vals.length - 1], Math.max(p90 * 1.3, losses[0][1] * 1.1));
    const step = niceStep(yMax, 4);
    yMax = Math.max(step, Math.ceil(yMax / step) * step);
  }
  drawChart(lossSvg, { xMax, yMax, series: [{ points: losses, color: "#2563eb", cls: "loss" }] });
  const evals = run ? [...run.evals] : [];
  const sm = run && run.end && run.end.summary;
  const lastEval = evals[evals.length - 1];
  if (sm && sm.evaluated_at && (!lastEval || sm.evaluated_at > lastEval.iteration + 1)) {
    evals.push({ iteration: sm.evaluated_at, train_acc: sm.train_acc, test_acc: sm.test_acc });
  }
  drawChart(accSvg, { xMax, yMax: 1, percent: true, series: [
    { points: evals.filter((e) => e.train_acc != null).map((e) => [e.iteration, e.train_acc]), color: "#2563eb", cls: "train" },
    { points: evals.filter((e) => e.test_acc != null).map((e) => [e.iteration, e.test_acc]), color: "#ea580c", dash: "5 4", cls: "test" },
  ] });
}
