// The network lab's page. It shows and asks: every number comes from the server
// (chainrule.probe, chainrule.live, chainrule.data.preprocess); these scripts only draw
// them. The header, the language switch and the words come from the lab's shared
// chrome.js and i18n.js. This module: the network in use, the drawing, the class pickers;
// net_predict.js: what the network makes of the drawing; net_learn.js: one step of
// learning; net_train.js: training; net_link.js: the address that shares what the page
// shows; net_kit.js: what they share.

import { mountHeader } from "./chrome.js";
import { message, onLanguage, said, setup, t } from "./i18n.js";
import {
  $, api, arrowKeys, datasetName, dropNotes, el, fmtPct, follow, names, netWords, renderNotes, state,
} from "./net_kit.js";
import { clearLearned, renderLearn, setupLearn } from "./net_learn.js";
import { followLink, setupLink, writeLink } from "./net_link.js";
import { announce, announceAgain, renderPrediction, setupPredict } from "./net_predict.js";
import { attachRun, renderRun, setupTrain } from "./net_train.js";
import { Pad } from "./pad.js";

// what the other modules may ask of this one (given to their setup, so that no module
// imports this one back)
const page = {
  inputBody: () => inputBody(),
  refreshLab: () => refreshLab(),
  showSample: (index, onError) => showSample(index, onError),
  afterEdit: () => afterEdit(),
  strokes: () => pad.strokes.length,
  setTarget: (c) => setTarget(c),
  renderPickers: () => renderPickers(),
};

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
  if (state.model) dropNotes("first"); // "the first network is still training" is over
  renderModel();
  if (state.lab.status === "training" && state.lab.first_run && !state.firstFollowed) {
    state.firstFollowed = true;
    follow(state.lab.first_run, onFirstEvent);
  }
  if (state.lab.training && state.lab.training !== state.lab.first_run && !state.run) {
    attachRun(state.lab.training, false); // a run started elsewhere: follow it here
  }
  const after = state.model && state.model.id + state.model.path;
  if (after && after !== before) {
    if (state.sample && state.sample.dataset !== state.model.dataset) {
      state.sample = null; // another dataset's image: this network cannot read it
      pad.redraw();
      renderSampleNote();
    }
    clearLearned();
    buildPickers();
    requestPredict();
    writeLink();
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
    refreshLab().then(followLink);
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
    const vars = { net: netWords(m.architecture, m.description), dataset: datasetName(m.dataset),
                   acc: fmtPct(m.test_acc), n: m.iterations ?? "?" };
    let s = t(m.test_acc == null ? "model.readyNoAcc" : "model.ready", vars);
    s += " — " + t(m.source === "run" ? "model.run" : m.source === "first" ? "model.first" : "model.given",
                   { id: m.id });
    text.textContent = s;
  } else if (lab.status === "training") {
    const c = state.first && state.first.created;
    if (c) {
      const i = state.first.iteration || 0;
      text.textContent = t("model.training", { net: netWords(c.architecture, c.net),
                                               dataset: datasetName(c.dataset), i, n: c.iters });
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
  renderModelPick();
}

// the networks to choose from; rebuilt only when the list changes (a focused or open
// list keeps its place)
function renderModelPick() {
  const lab = state.lab, pick = $("#model-pick");
  const usable = (lab.runs || []).filter((r) => r.has_model && !r.first);
  $("#model-pick-wrap").hidden = !(lab.model && usable.length);
  const options = lab.model || usable.length
    ? [["first", t("model.firstOption")], ...usable.map((r) => [r.id, `${r.id} (${datasetName(r.dataset)})`])]
    : [];
  const key = JSON.stringify(options);
  if (pick.dataset.key !== key) {
    pick.dataset.key = key;
    pick.replaceChildren(...options.map(([value, text]) => el("option", { value, text })));
  }
  if (options.length) pick.value = lab.model ? lab.model.id : "first";
  $("#model-onnx").hidden = !lab.model;
}

// The network in use as an ONNX file: fetched first, so that a server without the
// export extra says why (409) instead of handing over its error as a file.
$("#model-onnx").addEventListener("click", async (e) => {
  e.preventDefault();
  try {
    const response = await fetch("/api/model.onnx");
    if (!response.ok) {
      let data = {};
      try { data = await response.json(); } catch (_) { /* not JSON: the status says it */ }
      const err = new Error(data.error || response.statusText);
      err.data = data;
      throw err;
    }
    const url = URL.createObjectURL(await response.blob());
    const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    el("a", { href: url, download: named ? named[1] : "chainrule.onnx" }).click();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    alert(message(err.data, err.message));  // in the learner's language
  }
});

$("#model-pick").addEventListener("change", async (e) => {
  try {
    await api("POST", "/api/model", { run: e.target.value });
  } catch (err) {
    alert(message(err.data, err.message));
  }
  refreshLab();
});

// ------------------------------------------------------------------ drawing

// the shared pad (pad.js): a stroke's start makes what was said about the last input
// stale; the prediction follows the pen
const pad = new Pad($("#pad"), { hint: $("#pad-hint"), picture: () => state.sample,
                                  onStart: inputChanged, onMove: requestPredict, onEnd: requestPredict });

$("#undo").addEventListener("click", () => {
  if (!pad.undo()) state.sample = null;
  afterEdit();
});
$("#clear").addEventListener("click", () => {
  pad.clear();
  state.sample = null;
  afterEdit();
});
$("#sample").addEventListener("click", () => showSample(null));

// A test image on the pad: a random one (index null) or the one asked for; false (and
// the error in `onError`) when the server refuses.
async function showSample(index, onError) {
  try {
    const sample = await api("GET", index == null ? "/api/sample"
      : `/api/sample?index=${encodeURIComponent(index)}`);
    state.sample = sample;
    state.sampleError = null;
    pad.clear();
    state.learnLabel = sample.label;
    afterEdit();
    return true;
  } catch (err) {
    const body = err.data || { error: err.message };
    if (onError) onError(body);
    else {
      state.sampleError = body;
      renderSampleNote();
    }
    return false;
  }
}

// the input changed: what was said about the previous one is stale
function inputChanged() {
  state.sampleError = null;
  clearLearned();
  dropNotes("input");
  writeLink();
}

function afterEdit() {
  inputChanged();
  pad.redraw();
  renderSampleNote();
  renderPickers();
  requestPredict();
}

function renderSampleNote() {
  const s = state.sample;
  if (!s && state.sampleError) {
    $("#sample-note").textContent = message(state.sampleError);
    return;
  }
  $("#sample-note").textContent = s ? t("draw.sampleNote", {
    dataset: datasetName(s.dataset), index: s.index, label: names()[s.label] ?? s.label }) : "";
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
    state.predictionError = null;
    renderPrediction();
    return;
  }
  if (state.target != null) body.label = state.target;
  inflight = true;
  try {
    state.prediction = await api("POST", "/api/predict", body);
    state.predictionError = null;
  } catch (err) {
    state.prediction = null;
    state.predictionError = err.data || { error: err.message };
    if (/^net\.first_/.test(state.predictionError.code || "")) refreshLab();
  } finally {
    inflight = false;
  }
  renderPrediction();
  if (dirty) pump();
  else if (!pad.stroke) announce();
}

// ------------------------------------------------------------------ class pickers

function setTarget(c) {
  state.target = c;
  renderPickers();
  requestPredict();
}

// Two rows of toggle buttons (whose loss; the true label), made once per set of classes:
// a re-render changes their state (aria-pressed), never the buttons, so the focus stays.
function buildPickers() {
  const cls = names();
  const grad = $("#grad-pick"), learn = $("#learn-label");
  const key = cls.join("\u0001");
  if (grad.dataset.key !== key) {
    grad.dataset.key = learn.dataset.key = key;
    const auto = el("button", { type: "button", class: "button auto", "data-class": "auto",
                                "aria-pressed": "true" });
    auto.addEventListener("click", () => setTarget(null));
    grad.replaceChildren(auto);
    learn.replaceChildren();
    cls.forEach((name, c) => {
      const label = cls.some((n) => n.length > 2) ? String(c) : name;
      const b1 = el("button", { type: "button", class: "button", "data-class": c, title: name, text: label,
                                "aria-pressed": "false" });
      b1.addEventListener("click", () => setTarget(c));
      grad.append(b1);
      const b2 = el("button", { type: "button", class: "button", "data-class": c, title: name, text: label,
                                "aria-pressed": "false" });
      b2.addEventListener("click", () => {
        state.learnLabel = c;
        dropNotes("label");
        renderPickers();
      });
      learn.append(b2);
    });
  }
  grad.firstChild.textContent = t("grad.auto");
  renderPickers();
}

function renderPickers() {
  for (const b of $("#grad-pick").children) {
    const c = b.dataset.class;
    const on = c === "auto" ? state.target == null : Number(c) === state.target;
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  }
  for (const b of $("#learn-label").children) {
    const on = Number(b.dataset.class) === state.learnLabel;
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  }
}

arrowKeys($("#grad-pick"));
arrowKeys($("#learn-label"));
arrowKeys($("#bars"));

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
  announceAgain();
}

async function main() {
  pad.redraw();
  await setup("net");
  await mountHeader("net");
  setupPredict(page);
  setupLearn(page);
  setupTrain(page);
  setupLink(page);
  onLanguage(renderAll);
  renderAll();
  await refreshLab();
  await followLink();
}

main();
