// The hyperparameter-search page: the book's random search of the learning rate and the
// weight decay, each trial a point of the scatter as it ends, the best trials listed with
// their curves. The server trains (chainrule.book.hyperparameters.RandomSearch), ranks the
// trials and sends the best ones' spans; this script draws what it sends.

import { mountHeader } from "./chrome.js";
import { onLanguage, said, setup, t } from "./i18n.js";
import { $, LiveRuns, el, fmt, noteText, pct, svgEl } from "./ch6.js";

const VAL = "#1f6feb", TRAIN = "#9aa1ad";
const state = { note: null, saved: null, count: 10 };
const runs = new LiveRuns("hyperparameters", {
  onRun: () => { state.saved = null; render(); },
  onEvent: (e) => { if (e.type === "start") sync(e.settings); schedule(); },
  onNote: (note) => { state.note = note; renderNote(); },
});

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
}

const num = (id) => ($(id).value === "" ? null : Number($(id).value));
const form = () => ({ trials: num("#trials"), epochs: num("#epochs"),
                      log_lr: [num("#lr-lo"), num("#lr-hi")],
                      log_weight_decay: [num("#wd-lo"), num("#wd-hi")] });

function sync(s) {
  $("#trials").value = s.trials;
  $("#epochs").value = s.epochs;
  [$("#lr-lo").value, $("#lr-hi").value] = s.log_lr;
  [$("#wd-lo").value, $("#wd-hi").value] = s.log_weight_decay;
}

// ------------------------------------------------------------------ colours and axes

// Validation accuracy 0..1 as a colour (viridis' stops): dark purple for chance, yellow
// for the best.
const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function colour(v) {
  if (v == null) return "#c9ced6";
  const p = Math.min(Math.max(v, 0), 1) * (STOPS.length - 1), i = Math.min(Math.floor(p), STOPS.length - 2);
  const f = p - i, c = STOPS[i].map((a, j) => Math.round(a + (STOPS[i + 1][j] - a) * f));
  return `rgb(${c.join(",")})`;
}

const SUP = { "-": "⁻", ".": "·", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const power = (e) => "10" + String(e).split("").map((c) => SUP[c] ?? c).join("");

// The exponents to mark on an axis from lo to hi: the whole ones, or the two ends.
function decades(lo, hi) {
  const out = [];
  for (let e = Math.ceil(lo); e <= hi + 1e-9; e += 1) out.push(e);
  if (out.length > 7) return out.filter((e) => e % 2 === 0);
  return out.length ? out : [lo, hi];
}

function frameSize(svg, ratio, phoneRatio) {
  const W = Math.round(Math.min(Math.max(svg.clientWidth || 560, 260), 760));
  const H = Math.round(W * (W < 480 ? phoneRatio : ratio));
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  return [W, H];
}

// The colour scale: 0% to 100% as 20 steps, with its ticks.
function drawLegend(svg) {
  svg.replaceChildren();
  const L = 10, W = 196, n = 20;
  for (let i = 0; i < n; i += 1) {
    svg.append(svgEl("rect", { x: L + W * i / n, y: 2, width: W / n + 0.5, height: 10, fill: colour((i + 0.5) / n) }));
  }
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(svgEl("text", { x: L + W * v, y: 24, "text-anchor": "middle", class: "tick" }, `${v * 100}%`));
  }
}

// ------------------------------------------------------------------ the scatter

function drawScatter(svg, trials, best, s) {
  const [W, H] = frameSize(svg, 0.56, 0.86);
  const L = 52, R = 12, T = 10, B = 40;
  const [x0, x1] = s.log_lr, [y0, y1] = s.log_weight_decay;
  const x = (v) => L + (W - L - R) * (v - x0) / (x1 - x0);
  const y = (v) => T + (H - T - B) * (1 - (v - y0) / (y1 - y0));
  svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fcfcfd", stroke: "#e2e5ea" }));
  for (const e of decades(x0, x1)) {
    svg.append(svgEl("line", { x1: x(e), x2: x(e), y1: T, y2: H - B, stroke: "#eef0f3" }));
    svg.append(svgEl("text", { x: x(e), y: H - B + 14, "text-anchor": "middle", class: "tick" }, power(e)));
  }
  for (const e of decades(y0, y1)) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(e), y2: y(e), stroke: "#eef0f3" }));
    svg.append(svgEl("text", { x: L - 5, y: y(e) + 4, "text-anchor": "end", class: "tick" }, power(e)));
  }
  svg.append(svgEl("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", class: "axis" }, t("hp.lr")));
  svg.append(svgEl("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", class: "axis",
                             transform: `rotate(-90 12 ${(T + H - B) / 2})` }, t("hp.wd")));
  const r = W < 480 ? 4 : 5;
  const dot = (tr, cls) => {
    const c = svgEl("circle", { cx: x(tr.log_lr).toFixed(1), cy: y(tr.log_weight_decay).toFixed(1), r,
                                fill: colour(tr.final_val), class: cls, "data-trial": tr.index });
    c.append(svgEl("title", {}, t("hp.point", { k: tr.index + 1, lr: fmt(tr.lr, 3), wd: fmt(tr.weight_decay, 3),
                                               val: pct(tr.final_val) })));
    svg.append(c);
    return c;
  };
  for (const tr of trials) dot(tr, "trial");
  best.forEach((tr, rank) => { // the best on top, ringed; the first three numbered
    dot(tr, "trial best");
    svg.append(svgEl("circle", { cx: x(tr.log_lr), cy: y(tr.log_weight_decay), r: r + 3, fill: "none",
                                 stroke: "#111827", "stroke-width": 1.5, class: "ring" }));
    if (rank < 3) {
      svg.append(svgEl("text", { x: x(tr.log_lr) + r + 5, y: y(tr.log_weight_decay) - r - 1, class: "rank" }, String(rank + 1)));
    }
  });
}

// Validation accuracy against one of the two exponents.
function drawMarginal(svg, trials, key, [lo, hi]) {
  const [W, H] = frameSize(svg, 0.6, 0.6);
  const L = 38, R = 10, T = 8, B = 24;
  const x = (v) => L + (W - L - R) * (v - lo) / (hi - lo);
  const y = (v) => T + (H - T - B) * (1 - Math.min(Math.max(v, 0), 1));
  for (const v of [0, 0.5, 1]) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
    svg.append(svgEl("text", { x: L - 5, y: y(v) + 4, "text-anchor": "end", class: "tick" }, `${v * 100}%`));
  }
  for (const e of decades(lo, hi)) {
    svg.append(svgEl("text", { x: x(e), y: H - 6, "text-anchor": "middle", class: "tick" }, power(e)));
  }
  for (const tr of trials) {
    svg.append(svgEl("circle", { cx: x(tr[key]).toFixed(1), cy: y(tr.final_val).toFixed(1), r: 3,
                                 fill: colour(tr.final_val), class: "trial" }));
  }
}

// ------------------------------------------------------------------ the best trials

function miniChart(tr, epochs) {
  const W = 160, H = 92, L = 4, R = 4, T = 4, B = 4;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "mini", role: "img" });
  const x = (i) => L + (W - L - R) * i / Math.max(epochs, 1);
  const y = (v) => T + (H - T - B) * (1 - v);
  svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fcfcfd", stroke: "#e2e5ea" }));
  svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(0.5), y2: y(0.5), stroke: "#eef0f3" }));
  const line = (values, color, dash, cls) => {
    const pts = values.map((v, i) => (v == null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
    svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 1.8,
                                   "stroke-dasharray": dash, class: cls }));
  };
  line(tr.train, TRAIN, "4 3", "train");
  line(tr.val, VAL, "", "val");
  return svg;
}

function renderBest(trials, best) {
  const body = $("#best tbody");
  body.replaceChildren(...best.map((tr, rank) => el("tr", { "data-trial": tr.index },
    el("td", { text: String(rank + 1) }), el("td", { text: String(tr.index + 1) }),
    el("td", { class: "num", text: fmt(tr.lr, 3) }), el("td", { class: "num", text: fmt(tr.weight_decay, 3) }),
    el("td", { class: "num", text: pct(tr.final_val) }), el("td", { class: "num", text: pct(tr.final_train) }))));
  const epochs = trials.length ? trials[0].val.length - 1 : 0;
  $("#curves").replaceChildren(...best.map((tr, rank) => el("figure", { "data-trial": tr.index },
    el("figcaption", { text: t("hp.bestN", { k: rank + 1, val: pct(tr.final_val) }) }),
    miniChart(tr, epochs),
    el("div", { class: "stats", text: t("hp.lrWd", { lr: fmt(tr.lr, 3), wd: fmt(tr.weight_decay, 3) }) }))));
}

// ------------------------------------------------------------------ the page

function renderNote() {
  $("#run-note").textContent = state.saved ? t("run.saved", { folder: state.saved.folder })
    : noteText(state.note);
}

function render() {
  const run = runs.run, start = run && run.start;
  const p = runs.presets;
  $("#trials-out").textContent = $("#trials").value;
  $("#epochs-out").textContent = $("#epochs").value;
  $("#work-note").textContent = t("hp.work", { max: p.max_work, trials: p.trials, epochs: p.epochs });
  for (const b of document.querySelectorAll("#counts .button")) {
    b.classList.toggle("on", Number(b.dataset.count) === state.count);
  }
  $("#stop").disabled = !runs.running;
  $("#save").disabled = !(run && run.events.length);
  const trials = run ? run.events.filter((e) => e.type === "trial") : [];
  const last = trials[trials.length - 1];
  const best = last ? last.best.slice(0, state.count).map((i) => trials[i]) : [];
  const s = start ? start.settings : { log_lr: p.log_lr, log_weight_decay: p.log_weight_decay };
  drawScatter($("#scatter"), trials, best, s);
  drawMarginal($("#by-lr"), trials, "log_lr", s.log_lr);
  drawMarginal($("#by-wd"), trials, "log_weight_decay", s.log_weight_decay);
  $("#ring-note").textContent = t("hp.ringed", { k: state.count });
  renderBest(trials, best);
  const status = $("#status");
  if (!start) {
    status.textContent = run && !run.end ? t("run.loading") : "";
  } else {
    const top = best[0];
    status.textContent = t("hp.status", { k: trials.length, n: start.settings.trials,
      val: top ? pct(top.final_val) : "–", lr: top ? fmt(top.lr, 3) : "–",
      wd: top ? fmt(top.weight_decay, 3) : "–" });
  }
  const span = last && (last.spans[String(state.count)]);
  $("#span").hidden = !span;
  if (span) {
    $("#span").textContent = t("hp.span", { count: span.count, lrLo: fmt(span.lr[0], 2), lrHi: fmt(span.lr[1], 2),
      wdLo: fmt(span.weight_decay[0], 2), wdHi: fmt(span.weight_decay[1], 2),
      accLo: pct(span.val_acc[0]), accHi: pct(span.val_acc[1]) });
  }
  const end = $("#end");
  end.hidden = !(run && run.end);
  if (run && run.end) {
    const e = run.end;
    end.className = "callout" + (e.status === "failed" ? " bad" : e.status === "stopped" ? " warn" : "");
    end.textContent = e.status === "failed" ? said(e.message, e.message_code, e.message_params)
      : t(e.status === "stopped" ? "hp.stopped" : "hp.done", { k: trials.length });
  }
  renderNote();
}

function wire() {
  for (const id of ["#trials", "#epochs"]) $(id).addEventListener("input", render);
  $("#counts").replaceChildren(...runs.presets.shown.map((k) => {
    const b = el("button", { type: "button", class: "button", "data-count": String(k), text: String(k) });
    b.addEventListener("click", () => { state.count = k; render(); });
    return b;
  }));
  $("#book").addEventListener("click", () => {
    const p = runs.presets;
    sync(p);
    render();
    runs.restart(form());
  });
  runs.wireButtons(form, state, renderNote);
}

async function main() {
  await setup("ch6");
  await mountHeader("ch6-hyperparameters");
  const latest = await runs.load();
  const p = runs.presets;
  $("#trials").max = p.max_trials;
  $("#epochs").max = p.max_epochs;
  for (const [id, [lo, hi]] of [["#lr-lo", p.log_lr_bounds], ["#lr-hi", p.log_lr_bounds],
                                ["#wd-lo", p.log_weight_decay_bounds], ["#wd-hi", p.log_weight_decay_bounds]]) {
    $(id).min = lo;
    $(id).max = hi;
  }
  if (!latest.run) sync(p);
  drawLegend($("#scale"));
  wire();
  const retitle = () => { document.title = `chainrule · ${t("nav.ch6-hyperparameters")}`; };
  onLanguage(() => { retitle(); render(); });
  retitle();
  render();
  window.addEventListener("resize", schedule);
  if (!latest.run) runs.start(form()); // a first visit: the book's search, at once
}

main();
