// The network lab's page. It shows and asks: every number comes from the server
// (chainrule.probe, chainrule.live); this script only draws them. The header, the
// language switch and the words come from the lab's shared chrome.js and i18n.js.

import { drawRunCharts } from "./charts.js";
import { mountHeader } from "./chrome.js";
import { message, onLanguage, said, setup, t } from "./i18n.js";
import { channelMaps, isMaps } from "./netconv.js";
import { Pad } from "./pad.js";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) node.append(kid);
  return node;
};
const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
};

// ------------------------------------------------------------------ state

const state = {
  lab: null,            // GET /api/model
  model: null,          // the model in use (lab.model)
  prediction: null,     // POST /api/predict answer
  learned: null,        // POST /api/learn answer
  target: null,         // class whose gradient is shown (null: predicted)
  learnLabel: null,
  sample: null,         // GET /api/sample answer drawn on the pad
  run: null,            // the training run on the page: {id, created, progress, evals, end}
};

const fmtPct = (p) => (p == null ? "–" : (100 * p).toFixed(1) + "%");
const fmtNum = (v) => (v == null ? "–" : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
  ? v.toExponential(2) : Number(v.toPrecision(3)).toString());
const names = () => (state.model ? state.model.class_names : [...Array(10).keys()].map(String));

async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const response = await fetch(url, opts);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  if (!response.ok) {
    const err = new Error((data && data.error) || response.statusText);
    err.data = data || {};
    throw err;
  }
  return data;
}

function follow(runId, onEvent) {
  const source = new EventSource(`/api/train/${encodeURIComponent(runId)}/events`);
  source.onmessage = (m) => {
    const event = JSON.parse(m.data);
    onEvent(event);
    if (event.type === "end") source.close();
  };
  return source;
}

// ------------------------------------------------------------------ the model bar

async function refreshLab() {
  try {
    state.lab = await api("GET", "/api/model");
  } catch (err) {
    const body = err.data || {};
    state.lab = { status: "unavailable", message: body.error || err.message,
                  message_code: body.code, message_params: body.params, runs: [] };
  }
  const before = state.model && state.model.id + state.model.path;
  state.model = state.lab.model;
  renderModel();
  if (state.lab.status === "training" && state.lab.first_run && !state.firstFollowed) {
    state.firstFollowed = true;
    follow(state.lab.first_run, onFirstEvent);
  }
  if (state.lab.training && state.lab.training !== state.lab.first_run && !state.run) {
    attachRun(state.lab.training);
  }
  const after = state.model && state.model.id + state.model.path;
  if (after && after !== before) {
    buildPickers();
    requestPredict();
  }
}

function onFirstEvent(e) {
  state.first = state.first || {};
  if (e.type === "created") state.first.created = e;
  if (e.type === "progress") state.first.iteration = e.iteration;
  renderModel();
  if (e.type === "end") {
    state.first = null;
    state.firstFollowed = false;
    refreshLab();
  }
}

function renderModel() {
  const lab = state.lab;
  const dot = $("#model-dot"), text = $("#model-text"), bar = $("#first-progress");
  bar.hidden = true;
  if (!lab) return;
  dot.className = "dot " + (lab.model ? "ready" : lab.status);
  if (lab.model) {
    const m = lab.model;
    const vars = { net: m.description, dataset: m.dataset, acc: fmtPct(m.test_acc),
                   n: m.iterations ?? "?" };
    let s = t(m.test_acc == null ? "model.readyNoAcc" : "model.ready", vars);
    s += " — " + t(m.source === "run" ? "model.run" : m.source === "first" ? "model.first" : "model.given",
                   { id: m.id });
    text.textContent = s;
  } else if (lab.status === "training") {
    const c = state.first && state.first.created;
    if (c) {
      const i = state.first.iteration || 0;
      text.textContent = t("model.training", { net: c.net, dataset: c.dataset, i, n: c.iters });
      bar.hidden = false;
      bar.firstElementChild.style.width = (100 * i / c.iters) + "%";
    } else {
      text.textContent = t("model.trainingStart");
    }
  } else if (lab.status === "unavailable") {
    text.textContent = said(lab.message, lab.message_code, lab.message_params);
  } else {
    text.textContent = t("model.loading");
  }
  const note = $("#shape-note");
  note.hidden = !(state.model && state.model.dataset === "digits");
  note.textContent = t("model.digits");
  const pick = $("#model-pick");
  const usable = (lab.runs || []).filter((r) => r.has_model && !r.first);
  $("#model-pick-wrap").hidden = !(lab.model && usable.length);
  pick.replaceChildren();
  if (lab.model || usable.length) {
    pick.append(el("option", { value: "first", text: t("model.firstOption") }));
    for (const r of usable) pick.append(el("option", { value: r.id, text: `${r.id} (${r.dataset})` }));
    pick.value = lab.model ? lab.model.id : "first";
  }
}

$("#model-pick").addEventListener("change", async (e) => {
  try {
    await api("POST", "/api/model", { run: e.target.value });
  } catch (err) {
    alert(message(err.data, err.message));
  }
  refreshLab();
});

// ------------------------------------------------------------------ drawing

const pad = new Pad($("#pad"), { hint: $("#pad-hint"), picture: () => state.sample,
                                  onMove: requestPredict, onEnd: requestPredict });

$("#undo").addEventListener("click", () => {
  if (!pad.undo()) state.sample = null;
  afterEdit();
});
$("#clear").addEventListener("click", () => {
  pad.clear();
  state.sample = null;
  afterEdit();
});
$("#sample").addEventListener("click", async () => {
  try {
    state.sample = await api("GET", "/api/sample");
    state.sampleError = null;
    pad.clear();
    state.learnLabel = state.sample.label;
    afterEdit();
  } catch (err) {
    state.sampleError = err.data || { error: err.message };
    renderSampleNote();
  }
});

function afterEdit() {
  pad.redraw();
  renderSampleNote();
  buildPickers();
  requestPredict();
}

function renderSampleNote() {
  const s = state.sample;
  if (!s && state.sampleError) {
    $("#sample-note").textContent = message(state.sampleError);
    return;
  }
  $("#sample-note").textContent = s ? t("draw.sampleNote", {
    dataset: s.dataset, index: s.index, label: names()[s.label] ?? s.label }) : "";
}

function inputBody() {
  return pad.input();
}

// ------------------------------------------------------------------ predictions

let inflight = false;
let dirty = false;

function requestPredict() {
  dirty = true;
  pump();
}

async function pump() {
  if (inflight || !dirty || !state.model) return;
  dirty = false;
  const body = inputBody();
  if (!body) {
    state.prediction = null;
    renderPrediction();
    return;
  }
  if (state.target != null) body.label = state.target;
  inflight = true;
  try {
    state.prediction = await api("POST", "/api/predict", body);
    state.predictionError = null;
  } catch (err) {
    state.predictionError = err.data || { error: err.message };
    if (/^net\.first_/.test(state.predictionError.code || "")) refreshLab();
  } finally {
    inflight = false;
  }
  renderPrediction();
  if (dirty) pump();
}

function renderPrediction() {
  const p = state.prediction;
  const bars = $("#bars");
  bars.replaceChildren();
  const cls = names();
  bars.classList.toggle("wide-names", cls.some((n) => n.length > 2));
  if (!p) {
    cls.forEach((name) => bars.append(el("div", { class: "bar empty", role: "listitem" },
      el("span", { class: "name", text: name }), el("span", { class: "track" }),
      el("span", { class: "pct", text: "–" }))));
    $("#verdict-digit").textContent = "–";
    $("#verdict-text").textContent = message(state.predictionError, t("predict.empty"));
    $("#hidden").replaceChildren();
    drawHeat($("#heat"), null);
    $("#grad-text").textContent = "";
    renderPickers();
    return;
  }
  const k = p.predicted;
  $("#verdict-digit").textContent = cls[k];
  $("#verdict-text").textContent = p.blank ? t("predict.blank")
    : t("predict.says", { p: fmtPct(p.probabilities[k]) });
  p.probabilities.forEach((q, c) => {
    const row = el("div", { class: "bar" + (c === k ? " top" : "") + (c === p.target ? " target" : ""),
                            role: "listitem", "data-class": c, title: cls[c] },
      el("span", { class: "name", text: cls[c] }),
      el("span", { class: "track" }, el("span", { class: "fill" })),
      el("span", { class: "pct", text: fmtPct(q) }));
    row.querySelector(".fill").style.width = (100 * q) + "%";
    row.querySelector(".fill").style.display = "block";
    row.addEventListener("click", () => setTarget(c === k && state.target == null ? null : c));
    bars.append(row);
  });
  renderHidden(p.hidden);
  drawHeat($("#heat"), p.input_grad, p.input, p.shape);
  $("#grad-text").textContent = t("grad.text", { k: cls[p.target] });
  renderPickers();
}

function renderHidden(layers) {
  const box = $("#hidden");
  box.replaceChildren();
  for (const layer of layers || []) {
    if (isMaps(layer)) { box.append(channelMaps(layer, "hidden", () => renderHidden(layers))); continue; }
    const values = layer.values.map((v) => v ?? 0);
    const max = Math.max(...values.map(Math.abs), 1e-12);
    const active = values.filter((v) => v > 0).length;
    const cells = el("div", { class: "cells" });
    for (const v of values) {
      const cell = el("i", { title: fmtNum(v) });
      const a = Math.abs(v) / max;
      cell.style.background = v >= 0 ? `rgba(37,99,235,${0.08 + 0.92 * a})` : `rgba(234,88,12,${0.08 + 0.92 * a})`;
      cells.append(cell);
    }
    box.append(el("div", { class: "hidden-layer" },
      el("div", { class: "cap", text: t("hidden.layer", { layer: layer.layer, active, n: values.length, max: fmtNum(max) }) }),
      cells));
  }
}

// diverging colours for the gradient: blue (negative) - white - red (positive)
const NEG = [33, 102, 172], MID = [247, 247, 247], POS = [178, 24, 43];
function diverging(s) {
  const [a, b, f] = s < 0 ? [MID, NEG, -s] : [MID, POS, s];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * Math.min(f, 1)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function drawHeat(canvas, grad, input, shape, legend = true) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!grad) {
    if (legend) { $("#legend-lo").textContent = "−"; $("#legend-hi").textContent = "+"; }
    return;
  }
  const [h, w] = shape, cw = canvas.width / w, ch = canvas.height / h;
  const m = Math.max(...grad.map((g) => Math.abs(g ?? 0)), 1e-30);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    ctx.fillStyle = diverging((grad[i * w + j] ?? 0) / m);
    ctx.fillRect(j * cw, i * ch, Math.ceil(cw), Math.ceil(ch));
  }
  ctx.fillStyle = "rgba(17,24,39,0.45)";
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    const v = input[i * w + j];
    if (v > 0.05) {
      ctx.beginPath();
      ctx.arc((j + 0.5) * cw, (i + 0.5) * ch, Math.min(cw, ch) * 0.3 * Math.sqrt(v), 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  if (legend) {
    $("#legend-lo").textContent = "−" + fmtNum(m);
    $("#legend-hi").textContent = "+" + fmtNum(m);
  }
}

// ------------------------------------------------------------------ class pickers

function setTarget(c) {
  state.target = c;
  requestPredict();
}

function buildPickers() {
  const cls = names();
  const grad = $("#grad-pick");
  grad.replaceChildren(el("button", { type: "button", class: "button auto", "data-class": "auto", text: t("grad.auto") }));
  grad.firstChild.addEventListener("click", () => setTarget(null));
  const learn = $("#learn-label");
  learn.replaceChildren();
  cls.forEach((name, c) => {
    const label = cls.some((n) => n.length > 2) ? String(c) : name;
    const b1 = el("button", { type: "button", class: "button", "data-class": c, title: name, text: label });
    b1.addEventListener("click", () => setTarget(c));
    grad.append(b1);
    const b2 = el("button", { type: "button", class: "button", "data-class": c, title: name, text: label });
    b2.addEventListener("click", () => { state.learnLabel = c; renderPickers(); });
    learn.append(b2);
  });
  renderPickers();
}

function renderPickers() {
  for (const b of $("#grad-pick").children) {
    const c = b.dataset.class;
    b.classList.toggle("on", c === "auto" ? state.target == null : Number(c) === state.target);
  }
  for (const b of $("#learn-label").children) b.classList.toggle("on", Number(b.dataset.class) === state.learnLabel);
}

// ------------------------------------------------------------------ one step of learning

// A note under a form: a page word ({key}) or a server's error body ({body}), kept so
// that a language switch words it again (renderNotes); null hides it.
const notes = { "learn-error": null, "train-error": null };

function setNote(id, what) {
  notes[id] = what;
  renderNotes();
}

function renderNotes() {
  for (const [id, what] of Object.entries(notes)) {
    const box = document.getElementById(id);
    box.hidden = !what;
    box.textContent = !what ? "" : what.body ? message(what.body, t("error.unknown"))
      : t(what.key);
  }
}

$("#learn-go").addEventListener("click", async () => {
  setNote("learn-error", null);
  const body = inputBody();
  if (!body) return setNote("learn-error", { key: "learn.needInput" });
  if (state.learnLabel == null) return setNote("learn-error", { key: "learn.needLabel" });
  body.label = state.learnLabel;
  body.lr = Number($("#learn-lr").value);
  try {
    state.learned = await api("POST", "/api/learn", body);
  } catch (e) {
    return setNote("learn-error", { body: e.data || { error: e.message } });
  }
  renderLearn();
});

function barsSvg(values) {
  const n = values.length, svg = svgEl("svg", { viewBox: `0 0 ${n * 4} 64`, preserveAspectRatio: "none" });
  const m = Math.max(...values.map((v) => Math.abs(v ?? 0)), 1e-30);
  svg.append(svgEl("line", { x1: 0, x2: n * 4, y1: 32, y2: 32, stroke: "#d1d5db", "stroke-width": 0.5 }));
  values.forEach((v, i) => {
    const hgt = 30 * Math.abs(v ?? 0) / m;
    svg.append(svgEl("rect", { x: i * 4 + 0.5, width: 3, y: v >= 0 ? 32 - hgt : 32, height: Math.max(hgt, 0.2),
                               fill: v >= 0 ? "#b2182b" : "#2166ac" }));
  });
  return svg;
}

function renderLearn() {
  const L = state.learned;
  $("#learn-out").hidden = !L;
  if (!L) return;
  const cls = L.class_names;
  const flow = $("#flow");
  flow.replaceChildren();
  L.layers.forEach((layer, i) => {
    if (i === 1) return; // the last layer receives (y - t)/N itself: shown once
    if (flow.children.length) flow.append(el("span", { class: "arrow", text: "→" }));
    const title = i === 0 ? t("learn.softmax") : layer.layer === "input" ? t("learn.input")
      : t("learn.into", { layer: layer.layer });
    const stage = el("div", { class: "stage" },
      el("div", { class: "name", text: title }),
      el("div", { class: "norm", text: t("learn.norm", { v: fmtNum(layer.norm), n: layer.grad.length }) }));
    if (layer.layer === "input") {
      const c = el("canvas", { width: 140, height: 140 });
      drawHeat(c, layer.grad, L.input, L.shape, false);
      stage.append(c);
    } else if (isMaps(layer)) {
      stage.append(channelMaps(layer, "grad", renderLearn));
    } else {
      stage.append(barsSvg(layer.grad));
    }
    flow.append(stage);
  });
  const moved = $("#moved");
  moved.replaceChildren();
  moved.className = "bars moved" + (cls.some((n) => n.length > 2) ? " wide-names" : "");
  L.before.probabilities.forEach((q, c) => {
    const after = L.after.probabilities[c];
    const row = el("div", { class: "bar" + (c === L.label ? " target" : "") },
      el("span", { class: "name", text: cls[c] }),
      el("span", { class: "track" }, el("span", { class: "fill" }), el("span", { class: "fill after" })),
      el("span", { class: "pct", text: `${fmtPct(q)} → ${fmtPct(after)}` }));
    const [f1, f2] = row.querySelectorAll(".fill");
    f1.style.width = (100 * q) + "%";
    f1.style.display = "block";
    f2.style.width = (100 * after) + "%";
    moved.append(row);
  });
  moved.append(el("p", { class: "note", text: t("learn.lossMoved", {
    k: cls[L.label], a: fmtNum(L.before.loss), b: fmtNum(L.after.loss) }) }));
  const table = $("#changes");
  table.replaceChildren(el("tr", {}, el("th", { text: t("learn.param") }), el("th", { text: t("learn.before") }),
    el("th", { text: t("learn.after") }), el("th", { text: t("learn.delta") })));
  for (const c of L.changes) {
    let where = `${c.param}[${c.index.join(", ")}]`;
    if (c.pixel) where += " · " + t("learn.pixel", { r: c.pixel[0], c: c.pixel[1], j: c.index[1] });
    else if (c.to_class != null && c.index.length === 2) where += " · " + t("learn.toClass", { i: c.index[0], k: cls[c.to_class] });
    else if (c.to_class != null) where += " · " + t("learn.biasClass", { k: cls[c.to_class] });
    else if (c.index.length === 2) where += " · " + t("learn.unit", { i: c.index[0], j: c.index[1] });
    table.append(el("tr", {}, el("td", { text: where }), el("td", { text: fmtNum(c.before) }),
      el("td", { text: fmtNum(c.after) }),
      el("td", { class: c.delta >= 0 ? "up" : "down", text: (c.delta >= 0 ? "+" : "") + fmtNum(c.delta) })));
  }
}

// ------------------------------------------------------------------ training

const form = $("#train-form");

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  setNote("train-error", null);
  const f = new FormData(form);
  const hidden = String(f.get("hidden")).split(/[\s,]+/).filter(Boolean);
  if (!hidden.length || hidden.some((h) => !/^\d+$/.test(h))) {
    return setNote("train-error", { key: "train.badHidden" });
  }
  const sizes = hidden.map(Number);
  const body = {
    dataset: f.get("dataset"), hidden: sizes.length === 1 ? sizes[0] : sizes,
    activation: f.get("activation"), optimizer: f.get("optimizer"),
    lr: Number(f.get("lr")), batch_size: Number(f.get("batch_size")),
    dropout: Number(f.get("dropout")), weight_decay: Number(f.get("weight_decay")),
    batchnorm: f.get("batchnorm") === "on",
  };
  body[f.get("unit")] = Number(f.get("length"));
  if (String(f.get("eval_every")).trim()) body.eval_every = Number(f.get("eval_every"));
  try {
    const answer = await api("POST", "/api/train", body);
    attachRun(answer.run);
  } catch (x) {
    const busy = x.data && x.data.running;
    setNote("train-error", !busy ? { body: x.data || { error: x.message } }
      : { key: x.data.first ? "train.firstBusy" : "train.busy" });
    if (busy && !x.data.first) attachRun(busy); // another tab's run: follow it here
  }
});

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
    alert(message(e.data, e.message));
  }
  refreshLab();
});

function attachRun(id) {
  if (state.run && state.run.source) state.run.source.close();
  state.run = { id, created: null, progress: [], evals: [], end: null };
  state.run.source = follow(id, onRunEvent);
  $("#train-go").disabled = true;
  $("#train-stop").disabled = false;
  renderRun();
}

let frame = 0;
function onRunEvent(e) {
  const run = state.run;
  if (!run || e.run !== run.id) return;
  if (e.type === "created") run.created = e;
  else if (e.type === "progress") run.progress.push(e);
  else if (e.type === "eval") run.evals.push(e);
  else if (e.type === "end") {
    run.end = e;
    setNote("train-error", null); // a "busy" note is over
    $("#train-go").disabled = false;
    $("#train-stop").disabled = true;
    refreshLab();
  }
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; renderRun(); });
}

function renderRun() {
  const run = state.run;
  const status = $("#run-status"), msg = $("#run-message"), use = $("#run-use");
  const bar = $("#run-progress").firstElementChild;
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
    let s = `${c.net} · ` + t("train.status", { i, n: c.iters, e: (i / c.iters_per_epoch).toFixed(2),
                                               loss: last ? fmtNum(last.loss) : "–" });
    const acc = sm && sm.evaluated_at ? sm : ev; // at the end: the network as saved
    if (acc) s += t("train.statusAcc", { train: fmtPct(acc.train_acc), test: fmtPct(acc.test_acc) });
    status.textContent = s;
    bar.style.width = (100 * i / Math.max(c.iters, 1)) + "%";
  }
  drawCharts(run);
  const end = run.end;
  msg.hidden = !end;
  use.hidden = !(end && end.model) || run.used;
  if (end) {
    const sm = end.summary || {};
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
}

function drawCharts(run) {
  drawRunCharts($("#chart-loss"), $("#chart-acc"), run);
}

// ------------------------------------------------------------------ start

function renderAll() {
  document.title = `chainrule · ${t("nav.net")}`;
  renderModel();
  buildPickers();
  renderSampleNote();
  renderPrediction();
  renderLearn();
  renderRun();
  renderNotes();
}

async function main() {
  pad.redraw();
  await setup("net");
  await mountHeader("net");
  onLanguage(renderAll);
  renderAll();
  await refreshLab();
}

main();
