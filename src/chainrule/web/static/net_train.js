// Training a network from the page: the form, the run it starts or follows (one trains
// at a time; a tab that finds a run started elsewhere follows it and shows its settings),
// its events as live charts (charts.js, shared with the convnet lab: every mini-batch's
// loss as a mean line and a lowest-to-highest band, the step the end's message quotes
// marked), and its end in the learner's language.

import { drawRunCharts } from "./charts.js";
import { said, t } from "./i18n.js";
import {
  $, api, datasetName, dropNotes, fmtNum, fmtPct, follow, netWords, setNote, state, typed,
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

function drawCharts(run) {
  drawRunCharts({ loss: $("#chart-loss"), acc: $("#chart-acc"), caption: $("#chart-loss-caption") }, run);
}
