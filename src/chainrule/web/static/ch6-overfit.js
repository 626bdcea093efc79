// The overfitting page: train and test accuracy of the book's 7-layer network on 300
// images, with the learner's weight decay and dropout, and the same network without
// them beside it. The server trains (chainrule.book.experiments.Regularized) and sends
// every accuracy and gap; this script draws them.

import { mountHeader } from "./chrome.js";
import { onLanguage, said, setup, t } from "./i18n.js";
import { $, LiveRuns, drawChart, el, fmt, noteText, pct } from "./ch6.js";

const YOURS = "#1a7f37", PLAIN = "#9aa1ad";
const state = { note: null, saved: null };
const runs = new LiveRuns("overfit", {
  onRun: () => { state.saved = null; render(); },
  onEvent: (e) => { if (e.type === "start") sync(e.settings); schedule(); },
  onNote: (note) => { state.note = note; renderNote(); },
});

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
}

const form = () => ({ weight_decay: Number($("#decay").value), dropout: Number($("#dropout").value),
                      epochs: Number($("#epochs").value), test_size: Number($("#test-size").value) });

function sync(s) {
  $("#decay").value = s.weight_decay;
  $("#dropout").value = s.dropout;
  $("#epochs").value = s.epochs;
  const sizes = $("#test-size");
  if (![...sizes.options].some((o) => o.value === String(s.test_size))) {
    sizes.append(el("option", { value: String(s.test_size), text: String(s.test_size) }));
  }
  sizes.value = String(s.test_size);
}

function renderNote() {
  $("#run-note").textContent = state.saved ? t("run.saved", { folder: state.saved.folder })
    : noteText(state.note);
}

function render() {
  const run = runs.run;
  $("#decay-out").textContent = fmt(Number($("#decay").value), 3);
  $("#dropout-out").textContent = fmt(Number($("#dropout").value), 2);
  $("#epochs-out").textContent = $("#epochs").value;
  const f = form();
  for (const b of document.querySelectorAll("#presets .button")) {
    const p = b.dataset.preset;
    b.classList.toggle("on", p === "none" ? !f.weight_decay && !f.dropout
      : p === "decay" ? f.weight_decay === runs.presets.weight_decay && !f.dropout
        : !f.weight_decay && f.dropout === runs.presets.dropout);
  }
  $("#stop").disabled = !runs.running;
  $("#save").disabled = !(run && run.events.length);
  const epochs = run ? run.events.filter((e) => e.type === "epoch") : [];
  const start = run && run.start;
  const n = start ? start.labels.length : 1;
  const mine = n - 1; // the learner's net is the last; the plain one first (when two)
  const series = [], bands = [], marks = [];
  const pts = (key, j) => epochs.map((e) => [e.epoch, e[key][j]]);
  if (n === 2) {
    series.push({ points: pts("train", 0), color: PLAIN, width: 1.5, cls: "plain-train" },
                { points: pts("test", 0), color: PLAIN, dash: "6 4", width: 1.5, cls: "plain-test" });
  }
  series.push({ points: pts("train", mine), color: YOURS, cls: "train" },
              { points: pts("test", mine), color: YOURS, dash: "6 4", cls: "test" });
  bands.push({ upper: pts("train", mine), lower: pts("test", mine), color: YOURS });
  const last = epochs[epochs.length - 1];
  if (last) {
    marks.push({ x: last.epoch, y1: last.train[mine], y2: last.test[mine], color: YOURS,
                 text: fmt(last.gap[mine], 2) });
    if (n === 2) {
      marks.push({ x: last.epoch, y1: last.train[0], y2: last.test[0], color: PLAIN,
                   text: fmt(last.gap[0], 2), offset: 52 });
    }
  }
  const total = start ? start.settings.epochs : Number($("#epochs").value);
  drawChart($("#chart"), { xMax: Math.max(total - 1, 1), series, bands, marks, xLabel: t("of.epochAxis") });
  $("#legend-plain").hidden = n !== 2;
  const status = $("#status"), plain = $("#status-plain");
  if (!start) {
    status.textContent = run && !run.end ? t("run.loading") : "";
    plain.textContent = "";
  } else {
    const s = start.settings;
    const who = n === 2 ? t("of.yours", { decay: fmt(s.weight_decay, 3), dropout: fmt(s.dropout, 2) }) : t("of.plainOnly");
    status.textContent = t("of.status", { who, k: last ? last.epoch + 1 : 0, n: s.epochs,
      train: last ? pct(last.train[mine]) : "–", test: last ? pct(last.test[mine]) : "–",
      gap: last ? fmt(last.gap[mine], 2) : "–" });
    plain.textContent = n === 2 && last ? t("of.statusPlain", { train: pct(last.train[0]),
      test: pct(last.test[0]), gap: fmt(last.gap[0], 2) }) : "";
  }
  const end = $("#end");
  end.hidden = !(run && run.end);
  if (run && run.end) {
    const e = run.end;
    end.className = "callout" + (e.status === "failed" ? " bad" : e.status === "stopped" ? " warn" : "");
    end.textContent = e.status === "failed" ? said(e.message, e.message_code, e.message_params)
      : t(e.status === "stopped" ? "of.stopped" : "of.done", { k: epochs.length });
  }
  renderNote();
}

function preset(name) {
  const p = runs.presets;
  $("#decay").value = name === "decay" ? p.weight_decay : 0;
  $("#dropout").value = name === "dropout" ? p.dropout : 0;
  render();
  runs.restart(form());
}

function wire() {
  for (const id of ["#decay", "#dropout", "#epochs"]) {
    $(id).addEventListener("input", render);
    $(id).addEventListener("change", () => runs.restart(form()));
  }
  $("#test-size").addEventListener("change", () => runs.restart(form()));
  for (const b of document.querySelectorAll("#presets .button")) {
    b.addEventListener("click", () => preset(b.dataset.preset));
  }
  runs.wireButtons(form, state, renderNote);
}

async function main() {
  await setup("ch6");
  await mountHeader("ch6-overfit");
  const latest = await runs.load();
  const p = runs.presets;
  $("#epochs").max = p.max_epochs;
  $("#decay").max = Math.min(p.max_weight_decay, 0.2); // past 0.2 the book's net stops learning
  if (!latest.run) sync({ weight_decay: p.weight_decay, dropout: 0, epochs: p.epochs, test_size: p.test_size });
  wire();
  const retitle = () => { document.title = `chainrule · ${t("nav.ch6-overfit")}`; };
  onLanguage(() => { retitle(); render(); });
  retitle();
  render();
  window.addEventListener("resize", schedule);
  if (!latest.run) runs.start(form()); // a first visit: the book's weight decay, at once
}

main();
