// Training a network from the page: the form, the run it starts or follows (one trains
// at a time; a tab that finds a run started elsewhere follows it and shows its settings),
// its events as live charts, and its end in the learner's language.
//
// The loss chart holds every mini-batch's loss, as the server's progress events carry it:
// for each stretch of `progress_every` steps their mean (the line) and their lowest and
// highest (the band). The end's "not learning" note quotes single mini-batches (step 1's
// loss and the highest), and the chart marks the highest, at its step; a run that
// diverged is marked at the step the library stopped it.

import { said, t } from "./i18n.js";
import {
  $, api, datasetName, dropNotes, fmtNum, fmtPct, follow, netWords, setNote, state, svgEl, typed,
} from "./net_kit.js";

let page = null;
const form = $("#train-form");

export function setupTrain(pageHooks) {
  page = pageHooks;
  form.addEventListener("submit", submit);
  form.addEventListener("input", () => dropNotes("typed")); // a refusal of what was typed
  $("#train-stop").addEventListener("click", async () => {
    if (!state.run) return;
    $("#train-stop").disabled = true;
    try { await api("POST", `/api/train/${encodeURIComponent(state.run.id)}/stop`); } catch (e) { /* ended */ }
  });
  $("#run-use").addEventListener("click", async () => {
    if (!state.run) return;
    try {
      await api("POST", "/api/model", { run: state.run.id });
      state.run.used = true;
      renderRun();
    } catch (e) {
      setNote("train-error", { body: e.data || { error: e.message }, about: "run" });
    }
    page.refreshLab();
  });
}

// the form as the server is told it: numbers as typed (see net_kit.typed)
function formBody() {
  const f = new FormData(form);
  const hidden = String(f.get("hidden")).normalize("NFKC").split(/[\s,]+/).filter(Boolean);
  if (!hidden.length || hidden.some((h) => !/^\d+$/.test(h))) return null;
  const sizes = hidden.map(Number);
  const body = {
    dataset: f.get("dataset"), hidden: sizes.length === 1 ? sizes[0] : sizes,
    activation: f.get("activation"), optimizer: f.get("optimizer"),
    lr: typed(f.get("lr")), batch_size: typed(f.get("batch_size")),
    dropout: typed(f.get("dropout")), weight_decay: typed(f.get("weight_decay")),
    batchnorm: f.get("batchnorm") === "on",
  };
  body[f.get("unit")] = typed(f.get("length"));
  if (String(f.get("eval_every")).trim()) body.eval_every = typed(f.get("eval_every"));
  return body;
}

async function submit(e) {
  e.preventDefault();
  setNote("train-error", null);
  const body = formBody();
  if (!body) return setNote("train-error", { key: "train.badHidden", about: "typed" });
  try {
    const answer = await api("POST", "/api/train", body);
    attachRun(answer.run, true);
  } catch (x) {
    const busy = x.data && x.data.running;
    if (busy && !x.data.first) attachRun(busy, false); // another tab's run: follow it here
    setNote("train-error", !busy ? { body: x.data || { error: x.message }, about: "typed" }
      : x.data.first ? { key: "train.firstBusy", about: "first" } : { key: "train.busy", about: "run" });
  }
}

// The form shows a run's settings (a run this tab follows but did not start).
function fillForm(config) {
  const set = (name, value) => { form.elements.namedItem(name).value = value ?? ""; };
  set("dataset", config.dataset);
  set("hidden", Array.isArray(config.hidden) ? config.hidden.join(" ") : config.hidden);
  set("activation", config.activation);
  set("optimizer", config.optimizer);
  set("lr", config.lr);
  set("batch_size", config.batch_size);
  const epochs = config.epochs != null;
  set("unit", epochs ? "epochs" : "iters");
  set("length", epochs ? config.epochs : config.iters);
  set("eval_every", config.eval_every);
  set("dropout", config.dropout);
  set("weight_decay", config.weight_decay);
  form.elements.batchnorm.checked = !!config.batchnorm;
}

export function attachRun(id, mine) {
  if (state.run && state.run.source) state.run.source.close();
  state.run = { id, mine, created: null, progress: [], evals: [], end: null };
  state.run.source = follow(id, onRunEvent);
  dropNotes("run");
  $("#train-go").disabled = true;
  $("#train-stop").disabled = false;
  renderRun();
}

let frame = 0;
function onRunEvent(e) {
  const run = state.run;
  if (!run || e.run !== run.id) return;
  if (e.type === "created") {
    run.created = e;
    if (!run.mine) fillForm(e.config);
  } else if (e.type === "progress") run.progress.push(e);
  else if (e.type === "eval") run.evals.push(e);
  else if (e.type === "end") {
    run.end = e;
    dropNotes("run"); // a "busy" note is over
    $("#train-go").disabled = false;
    $("#train-stop").disabled = true;
    page.refreshLab();
  }
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; renderRun(); });
}

export function renderRun() {
  const run = state.run;
  const status = $("#run-status"), msg = $("#run-message"), use = $("#run-use");
  const bar = $("#run-progress").firstElementChild;
  const follows = $("#run-follow");
  follows.hidden = !(run && !run.mine);
  follows.textContent = run && !run.mine ? t("train.following", { id: run.id }) : "";
  if (!run) {
    status.textContent = t("train.idle");
    bar.style.width = "0";
    drawCharts(null);
    return;
  }
  const c = run.created;
  const last = run.progress[run.progress.length - 1];
  const ev = run.evals[run.evals.length - 1];
  if (!c) {
    status.textContent = run.end ? "" : t("train.starting", { id: run.id });
  } else {
    const sm = run.end && run.end.summary;
    const i = sm ? sm.iteration : last ? last.iteration : c.start_iteration;
    let s = `${netWords(c.architecture, c.net)} · ${datasetName(c.dataset)} · ` + t("train.status", {
      i, n: c.iters, e: (i / c.iters_per_epoch).toFixed(2), loss: last ? fmtNum(last.loss) : "–" });
    const acc = sm && sm.evaluated_at ? sm : ev; // at the end: the network as saved
    if (acc) s += t("train.statusAcc", { train: fmtPct(acc.train_acc), test: fmtPct(acc.test_acc) });
    status.textContent = s;
    bar.style.width = (100 * i / Math.max(c.iters, 1)) + "%";
  }
  drawCharts(run);
  const end = run.end;
  msg.hidden = !end;
  use.hidden = !(end && end.model) || run.used;
  if (end) renderEnd(run, msg);
}

function renderEnd(run, msg) {
  const end = run.end, c = run.created, sm = end.summary || {};
  let kind = "done", text;
  if (end.status === "completed") text = t("train.done", { acc: fmtPct(sm.test_acc), n: sm.iteration, path: c ? c.path : "" });
  else if (end.status === "stopped") { kind = "warn"; text = t("train.stopped", { i: sm.iteration, n: sm.iters, path: c ? c.path : "" }); }
  else {
    kind = "bad";
    text = t(end.status === "diverged" ? "train.diverged" : "train.failed",
             { message: said(end.message, end.message_code, end.message_params) });
  }
  if (end.warning) { // it did not learn: the library's words, in the page's language
    kind = "warn";
    text += " " + t("train.warning", {
      message: said(end.warning, end.warning_code, end.warning_params) });
  }
  if (run.used) text += " " + t("train.used");
  msg.className = "callout " + kind;
  msg.textContent = text;
}

// ------------------------------------------------------------------ charts

function niceStep(span, ticks) {
  const raw = span / ticks, p = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
}

function drawChart(svg, { xMax, yMax, series, percent, bands = [], marks = [] }) {
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
  for (const b of bands) { // [from, to, low, high] ...: a box over each stretch of steps
    const clip = (v) => y(Math.min(Math.max(v, 0), yMax));
    const d = b.points.map(([from, to, lo, hi]) => {
      const x0 = x(from).toFixed(1), x1 = Math.max(x(to), x(from) + 0.5).toFixed(1);
      return `M${x0},${clip(hi).toFixed(1)}H${x1}V${Math.max(clip(lo), clip(hi) + 0.5).toFixed(1)}H${x0}Z`;
    }).join("");
    if (d) svg.append(svgEl("path", { d, fill: b.color, class: b.cls }));
  }
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
  for (const m of marks) {
    const mx = x(Math.min(m.at, xMax));
    const anchor = mx > W - R - 80 ? "end" : "start";
    const dx = anchor === "end" ? -6 : 6;
    if (m.value == null) { // off the chart (a step the library stopped): a line and words at the top
      svg.append(svgEl("line", { x1: mx, x2: mx, y1: T, y2: y(0), stroke: "#b91c1c", "stroke-dasharray": "3 3",
                                 class: m.cls }));
      const label = svgEl("text", { x: mx + dx, y: T + 10, "text-anchor": anchor, class: m.cls + " mark" });
      label.textContent = m.text;
      svg.append(label);
      continue;
    }
    const my = y(Math.min(Math.max(m.value, 0), yMax));
    svg.append(svgEl("circle", { cx: mx, cy: my, r: 4.5, fill: "none", stroke: "#b91c1c", "stroke-width": 2,
                                 class: m.cls, "data-value": m.value }));
    const label = svgEl("text", { x: mx + dx, y: Math.max(my - 6, T + 10), "text-anchor": anchor, class: m.cls + " mark" });
    label.textContent = m.text;
    svg.append(label);
  }
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

function drawCharts(run) {
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
  $("#chart-loss-caption").textContent = c && c.progress_every
    ? t("chart.lossMean", { k: c.progress_every }) : t("chart.loss");
  drawChart($("#chart-loss"), { xMax, yMax, series: [{ points: losses, color: "#2563eb", cls: "loss" }],
                                 bands: [{ points: range, color: "#bfd3fb", cls: "loss-range" }], marks });
  const evals = run ? [...run.evals] : [];
  const sm = run && run.end && run.end.summary;
  const lastEval = evals[evals.length - 1];
  if (sm && sm.evaluated_at && (!lastEval || sm.evaluated_at > lastEval.iteration + 1)) {
    evals.push({ iteration: sm.evaluated_at, train_acc: sm.train_acc, test_acc: sm.test_acc });
  }
  drawChart($("#chart-acc"), { xMax, yMax: 1, percent: true, series: [
    { points: evals.filter((e) => e.train_acc != null).map((e) => [e.iteration, e.train_acc]), color: "#2563eb", cls: "train" },
    { points: evals.filter((e) => e.test_acc != null).map((e) => [e.iteration, e.test_acc]), color: "#ea580c", dash: "5 4", cls: "test" },
  ] });
}
