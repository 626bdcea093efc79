// The convnet lab: your digit through a SimpleConvNet's 30 filters, forward and backward,
// and the filters forming while one trains. Every number comes from the server
// (chainrule.nn.conv_probe, chainrule.training.live); this script draws them. The drawing
// pad and the training charts are the network lab's (pad.js, charts.js).

import { drawRunCharts } from "./charts.js";
import { mountHeader } from "./chrome.js";
import { renderCards, renderDetail } from "./convcards.js";
import { message, onLanguage, said, setup, t } from "./i18n.js";
import { $, api, el, fmtNum, fmtPct, follow } from "./labkit.js";
import { paintMap } from "./maps.js";
import { Pad } from "./pad.js";

const state = {
  lab: null,          // GET /api/conv/model
  model: null,        // lab.model
  probe: null,        // POST /api/conv/probe answer
  probeError: null,
  sample: null,       // GET /api/conv/sample answer on the pad
  sampleError: null,
  target: null,       // whose loss (null: the predicted class)
  view: "forward",
  byResponse: false,
  open: null,         // the filter shown enlarged
  run: null,          // the run the training panel follows
  shown: null,        // the snapshot the scrubber is on (null: the latest)
  trainNote: null,    // {key} or {body}
};

const names = () => (state.model ? state.model.class_names : [...Array(10).keys()].map(String));

// ------------------------------------------------------------------ which network

let polling = null;

async function refreshLab() {
  try {
    state.lab = await api("GET", "/api/conv/model");
  } catch (err) {
    const body = err.data || {};
    state.lab = { status: "unavailable", message: body.error || err.message, message_code: body.code,
                  message_params: body.params, runs: [] };
  }
  const before = state.model && state.model.id + state.model.path;
  state.model = state.lab.model;
  renderModel();
  const busy = state.lab.training;
  if (busy && state.lab.training_conv && (!state.run || (state.run.end && state.run.id !== busy))) attachRun(busy);
  clearTimeout(polling);
  if (!state.model || state.lab.status === "waiting") polling = setTimeout(refreshLab, 2000);
  const after = state.model && state.model.id + state.model.path;
  if (after && after !== before) {
    buildPicker();
    const shape = String(state.model.image_shape);
    if (state.sample && String(state.sample.shape) !== shape) state.sample = null; // another dataset's
    if (!pad.input()) takeSample(); // something to look at from the start
    else requestProbe();
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
    let s = t(m.test_acc == null ? "model.readyNoAcc" : "model.ready",
              { net: m.description, dataset: m.dataset, acc: fmtPct(m.test_acc), n: m.iterations ?? "?" });
    s += " — " + t(m.source === "run" ? "model.run" : m.source === "first" ? "model.first" : "model.given", { id: m.id });
    text.textContent = s;
  } else if (lab.status === "training" && state.run && state.run.id === lab.first_run && state.run.created) {
    const c = state.run.created, last = state.run.progress[state.run.progress.length - 1];
    const i = last ? last.iteration : 0;
    text.textContent = t("model.training", { dataset: c.dataset, i, n: c.iters });
    bar.hidden = false;
    bar.firstElementChild.style.width = (100 * i / c.iters) + "%";
  } else {
    text.textContent = lab.message ? said(lab.message, lab.message_code, lab.message_params)
      : t(lab.status === "training" ? "model.trainingStart" : "model.loading");
  }
  const usable = (lab.runs || []).filter((r) => r.has_model && !r.first);
  const pick = $("#model-pick");
  $("#model-pick-wrap").hidden = !(lab.model && usable.length);
  pick.replaceChildren(el("option", { value: "first", text: t("model.firstOption") }));
  for (const r of usable) pick.append(el("option", { value: r.id, text: `${r.id} (${r.dataset})` }));
  if (lab.model) pick.value = lab.model.source === "run" ? lab.model.id : "first";
}

$("#model-pick").addEventListener("change", async (e) => {
  try { await api("POST", "/api/conv/model", { run: e.target.value }); } catch (err) { alert(message(err.data, err.message)); }
  refreshLab();
});

// ------------------------------------------------------------------ drawing

// a stroke on a test image starts a drawing of your own: the image goes
const pad = new Pad($("#pad"), { hint: $("#pad-hint"), picture: () => state.sample,
                                  onStart: () => { if (pad.strokes.length === 1 && state.sample) dropSample(); },
                                  onEnd: () => requestProbe() });

function dropSample() {
  state.sample = null;
  renderSampleNote();
}

$("#undo").addEventListener("click", () => { if (!pad.undo()) state.sample = null; afterEdit(); });
$("#clear").addEventListener("click", () => { pad.clear(); state.sample = null; afterEdit(); });
$("#sample").addEventListener("click", () => takeSample());

async function takeSample() {
  try {
    state.sample = await api("GET", "/api/conv/sample");
    state.sampleError = null;
    pad.clear();
  } catch (err) {
    state.sampleError = err.data || { error: err.message };
  }
  afterEdit();
}

function afterEdit() {
  pad.redraw();
  renderSampleNote();
  requestProbe();
}

function renderSampleNote() {
  const s = state.sample;
  $("#sample-note").textContent = !s && state.sampleError ? message(state.sampleError)
    : s ? t("draw.sampleNote", { dataset: s.dataset, index: s.index, label: names()[s.label] ?? s.label }) : "";
}

// ------------------------------------------------------------------ one picture through the filters

let inflight = false, dirty = false;

function requestProbe() {
  dirty = true;
  pump();
}

async function pump() {
  if (inflight || !dirty || !state.model) return;
  dirty = false;
  const body = pad.input();
  if (!body) {
    state.probe = null;
    renderProbe();
    return;
  }
  if (state.target != null) body.label = state.target;
  inflight = true;
  try {
    state.probe = await api("POST", "/api/conv/probe", body);
    state.probeError = null;
  } catch (err) {
    state.probe = null; // what is shown must be the network's answer to what is drawn
    state.probeError = err.data || { error: err.message };
    if (/^conv\.|^net\.first/.test(state.probeError.code || "")) refreshLab();
  } finally {
    inflight = false;
  }
  renderProbe();
  if (dirty) pump();
}

function renderProbe() {
  const P = state.probe, cls = names();
  document.body.dataset.probes = String(Number(document.body.dataset.probes || 0) + (P ? 1 : 0));
  if (!P) {
    $("#verdict-digit").textContent = "–";
    $("#verdict-text").textContent = message(state.probeError, t("predict.empty"));
    $("#grad-text").textContent = "";
    $("#heat").getContext("2d").clearRect(0, 0, 168, 168);
  } else {
    const k = P.predicted;
    $("#verdict-digit").textContent = cls[k];
    $("#verdict-text").textContent = P.blank ? t("predict.blank") : t("predict.says", { p: fmtPct(P.probabilities[k]) });
    drawHeat(P);
    $("#grad-text").textContent = t("grad.text", { k: cls[P.target] });
  }
  renderPicker();
  renderMaps();
  if (state.open != null && $("#detail").open && P) renderDetail(P, state.open, state.view);
}

function drawHeat(P) {
  const canvas = $("#heat"), [, h, w] = P.input_shape;
  paintMap(canvas, P.input_grad, h, w, { kind: "grad", px: 6 });
  const ctx = canvas.getContext("2d"), cw = canvas.width / w, ch = canvas.height / h;
  ctx.fillStyle = "rgba(17,24,39,0.45)";
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    const v = P.input[i * w + j];
    if (v > 0.05) {
      ctx.beginPath();
      ctx.arc((j + 0.5) * cw, (i + 0.5) * ch, Math.min(cw, ch) * 0.3 * Math.sqrt(v), 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

function buildPicker() {
  const box = $("#grad-pick");
  box.replaceChildren(el("button", { type: "button", class: "button auto", "data-class": "auto", text: t("grad.auto") }));
  box.firstChild.addEventListener("click", () => { state.target = null; requestProbe(); });
  names().forEach((name, c) => {
    const b = el("button", { type: "button", class: "button", "data-class": c, title: name,
                             text: names().some((n) => n.length > 2) ? String(c) : name });
    b.addEventListener("click", () => { state.target = c; requestProbe(); });
    box.append(b);
  });
  renderPicker();
}

function renderPicker() {
  for (const b of $("#grad-pick").children) {
    const on = b.dataset.class === "auto" ? state.target == null : Number(b.dataset.class) === state.target;
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  }
}

// ------------------------------------------------------------------ the 30 maps

function renderMaps() {
  const P = state.probe;
  for (const [id, on] of [["view-forward", state.view === "forward"], ["view-backward", state.view === "backward"],
                          ["sort-index", !state.byResponse], ["sort-response", state.byResponse]]) {
    $("#" + id).setAttribute("aria-pressed", String(on));
  }
  const cls = names();
  $("#maps-explain").textContent = !P ? t("maps.empty")
    : t(state.view === "forward" ? "maps.explainForward" : "maps.explainBackward",
        { k: cls[P.target], n: P.filters.length, fh: P.filter_shape[1], fw: P.filter_shape[2],
          oh: P.map_shape[0], ow: P.map_shape[1], ph: P.pooled_shape[0], pw: P.pooled_shape[1] });
  const legend = $("#maps-legend");
  legend.replaceChildren();
  if (P) {
    const keys = state.view === "forward" ? ["maps.kFilter", "maps.kRelu", "maps.kPooled"]
      : ["maps.kGradPooled", "maps.kGradRelu", "maps.kGradConv"];
    keys.forEach((k, i) => legend.append(el("span", { class: "k k" + i, text: t(k) })));
  }
  renderCards($("#cards"), P, { view: state.view, byResponse: state.byResponse, onOpen: openDetail });
}

$("#view-forward").addEventListener("click", () => { state.view = "forward"; renderMaps(); });
$("#view-backward").addEventListener("click", () => { state.view = "backward"; renderMaps(); });
$("#sort-index").addEventListener("click", () => { state.byResponse = false; renderMaps(); });
$("#sort-response").addEventListener("click", () => { state.byResponse = true; renderMaps(); });

function openDetail(f) {
  if (!state.probe) return;
  state.open = f;
  renderDetail(state.probe, f, state.view);
  const dialog = $("#detail");
  if (!dialog.open) dialog.showModal();
}

function stepDetail(by) {
  const n = state.probe ? state.probe.filters.length : 0;
  if (state.open == null || !n) return;
  const order = state.byResponse ? state.probe.order : [...Array(n).keys()];
  openDetail(order[(order.indexOf(state.open) + by + n) % n]);
}

$("#detail-close").addEventListener("click", () => $("#detail").close());
$("#detail-prev").addEventListener("click", () => stepDetail(-1));
$("#detail-next").addEventListener("click", () => stepDetail(1));
$("#detail").addEventListener("click", (e) => { if (e.target === $("#detail")) $("#detail").close(); });
$("#detail").addEventListener("close", () => { state.open = null; });

// ------------------------------------------------------------------ training, the filters forming

const form = $("#train-form");

function setTrainNote(what) {
  state.trainNote = what;
  renderTrainNote();
}

function renderTrainNote() {
  const box = $("#train-error"), what = state.trainNote;
  box.hidden = !what;
  box.textContent = !what ? "" : what.body ? message(what.body, t("error.unknown")) : t(what.key);
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  setTrainNote(null);
  const f = new FormData(form);
  const body = { dataset: f.get("dataset"), optimizer: f.get("optimizer"), lr: Number(f.get("lr")),
                 batch_size: Number(f.get("batch_size")), seed: Number(f.get("seed")) };
  body[f.get("unit")] = Number(f.get("length"));
  if (String(f.get("eval_every")).trim()) body.eval_every = Number(f.get("eval_every"));
  try {
    const answer = await api("POST", "/api/conv/train", body);
    attachRun(answer.run);
  } catch (x) {
    const busy = x.data && x.data.running;
    setTrainNote(busy ? { key: x.data.first ? "train.firstBusy" : "train.busy" } : { body: x.data || { error: x.message } });
  }
});

$("#train-stop").addEventListener("click", async () => {
  if (!state.run) return;
  $("#train-stop").disabled = true;
  try { await api("POST", `/api/train/${encodeURIComponent(state.run.id)}/stop`); } catch (e) { /* it ended */ }
});

$("#run-use").addEventListener("click", async () => {
  if (!state.run) return;
  try {
    await api("POST", "/api/conv/model", { run: state.run.id });
    state.run.used = true;
  } catch (e) {
    setTrainNote({ body: e.data || { error: e.message } });
  }
  renderRun();
  refreshLab();
});

function attachRun(id) {
  if (state.run && state.run.source) state.run.source.close();
  const first = state.lab && state.lab.first_run === id;
  state.run = { id, first, created: null, progress: [], evals: [], snapshots: [], end: null };
  state.shown = null;
  state.run.source = follow(id, onRunEvent);
  $("#train-go").disabled = true;
  $("#train-stop").disabled = first;
  renderRun();
}

let frame = 0;
function onRunEvent(e) {
  const run = state.run;
  if (!run || e.run !== run.id) return;
  if (e.type === "created") run.created = e;
  else if (e.type === "progress") run.progress.push(e);
  else if (e.type === "eval") run.evals.push(e);
  else if (e.type === "snapshot") run.snapshots.push(e);
  else if (e.type === "end") {
    run.end = e;
    setTrainNote(null);
    $("#train-go").disabled = false;
    $("#train-stop").disabled = true;
    refreshLab();
  }
  if (run.first) renderModel();
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; renderRun(); });
}

const scrub = $("#scrub");
scrub.addEventListener("input", () => {
  const run = state.run;
  if (!run) return;
  const k = Number(scrub.value);
  state.shown = k >= run.snapshots.length - 1 ? null : k;
  renderLiveFilters();
});

function renderLiveFilters() {
  const run = state.run, box = $("#live-filters");
  const snaps = run ? run.snapshots : [];
  scrub.disabled = snaps.length < 2;
  scrub.max = Math.max(snaps.length - 1, 0);
  const k = state.shown == null ? snaps.length - 1 : state.shown;
  scrub.value = Math.max(k, 0);
  const snap = snaps[k];
  document.body.dataset.snapshots = String(snaps.length);
  if (!snap) {
    box.replaceChildren();
    $("#live-iter").textContent = "";
    return;
  }
  $("#live-iter").textContent = t("train.atIteration", { i: snap.iteration });
  box.dataset.iteration = snap.iteration;
  const [c, fh, fw] = snap.filter_shape;
  if (box.children.length !== snap.filters.length) {
    box.replaceChildren(...snap.filters.map((_, f) => el("canvas", { class: "map", "data-filter": f, title: `#${f}` })));
  }
  snap.filters.forEach((w, f) => paintMap(box.children[f], w, c * fh, fw, { kind: "gray", px: 8 }));
}

function renderRun() {
  const run = state.run;
  const status = $("#run-status"), msg = $("#run-message"), use = $("#run-use");
  const bar = $("#run-progress").firstElementChild;
  renderLiveFilters();
  drawRunCharts({ loss: $("#chart-loss"), acc: $("#chart-acc"), caption: $("#chart-loss-caption") }, run);
  if (!run) {
    status.textContent = t("train.idle");
    bar.style.width = "0";
    msg.hidden = use.hidden = true;
    return;
  }
  const c = run.created, last = run.progress[run.progress.length - 1], ev = run.evals[run.evals.length - 1];
  if (!c) {
    status.textContent = run.end ? "" : t("train.starting", { id: run.id });
  } else {
    const sm = run.end && run.end.summary;
    const i = sm ? sm.iteration : last ? last.iteration : c.start_iteration;
    let s = (run.first ? t("train.firstRun") + " · " : "") + t("train.status", {
      i, n: c.iters, e: (i / c.iters_per_epoch).toFixed(2), loss: last ? fmtNum(last.loss) : "–" });
    const acc = sm && sm.evaluated_at ? sm : ev;
    if (acc) s += acc.train_acc == null ? t("train.statusTest", { test: fmtPct(acc.test_acc) }) // the end: test only
      : t("train.statusAcc", { train: fmtPct(acc.train_acc), test: fmtPct(acc.test_acc) });
    status.textContent = s;
    bar.style.width = (100 * i / Math.max(c.iters, 1)) + "%";
  }
  const end = run.end;
  msg.hidden = !end;
  use.hidden = !(end && end.model) || run.used || run.first;
  if (!end) return;
  const sm = end.summary || {};
  let kind = "done", text;
  if (end.status === "completed" && run.first) text = t("train.doneFirst", { acc: fmtPct(sm.test_acc), n: sm.iteration });
  else if (end.status === "completed") text = t("train.done", { acc: fmtPct(sm.test_acc), n: sm.iteration, path: c ? c.path : "" });
  else if (end.status === "stopped") { kind = "warn"; text = t("train.stopped", { i: sm.iteration, n: sm.iters, path: c ? c.path : "" }); }
  else {
    kind = "bad";
    text = t(end.status === "diverged" ? "train.diverged" : "train.failed",
             { message: said(end.message, end.message_code, end.message_params) });
  }
  if (end.warning) { kind = "warn"; text += " " + t("train.warning", { message: said(end.warning, end.warning_code, end.warning_params) }); }
  if (run.used) text += " " + t("train.used");
  msg.className = "callout " + kind;
  msg.textContent = text;
}

// ------------------------------------------------------------------ start

function renderAll() {
  document.title = `chainrule · ${t("nav.conv")}`;
  renderModel();
  buildPicker();
  renderSampleNote();
  renderProbe();
  renderRun();
  renderTrainNote();
}

async function main() {
  pad.redraw();
  await setup("conv");
  await mountHeader("conv");
  onLanguage(renderAll);
  renderAll();
  await refreshLab();
  document.body.dataset.ready = "1";
}

main();
