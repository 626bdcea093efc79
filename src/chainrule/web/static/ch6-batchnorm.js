// The batch-normalization page: the book's batch_norm_test.py for one weight std, live.
// The server trains both networks (chainrule.book.experiments.BatchNormPair) and sends
// every point and histogram; this script draws them.

import { mountHeader } from "./chrome.js";
import { onLanguage, said, setup, t } from "./i18n.js";
import { $, LiveRuns, drawChart, drawHistogram, el, fmt, noteText, pct, svgEl } from "./ch6.js";

const COLORS = ["#1f6feb", "#e4572e"]; // with, without
const state = { layer: 1, at: null, note: null, saved: null };
const runs = new LiveRuns("batchnorm", {
  onRun: () => { state.at = null; state.saved = null; render(); },
  onEvent: (e) => { if (e.type === "start") sync(e.settings); schedule(); },
  onNote: (note) => { state.note = note; renderNote(); },
});

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
}

const scales = () => runs.presets.weight_scales;

function sync(settings) { // the sliders say what the run on the page was started with
  const i = scales().indexOf(settings.weight_scale);
  if (i >= 0) $("#scale").value = i;
  $("#epochs").value = settings.epochs;
}
const form = () => ({ weight_scale: scales()[Number($("#scale").value)],
                      epochs: Number($("#epochs").value) });

function renderNote() {
  let text = noteText(state.note);
  if (state.saved) text = t("run.saved", { folder: state.saved.folder });
  $("#run-note").textContent = text;
}

function render() {
  const run = runs.run;
  $("#scale-out").textContent = fmt(scales()[Number($("#scale").value)], 3);
  $("#epochs-out").textContent = $("#epochs").value;
  $("#stop").disabled = !runs.running;
  $("#save").disabled = !(run && run.events.length);
  const points = run ? run.events.filter((e) => e.type === "point") : [];
  const epochs = run && run.start ? run.start.settings.epochs : Number($("#epochs").value);
  drawChart($("#chart"), { xMax: Math.max(epochs - 1, 1), xLabel: t("bn.epochAxis"),
    series: [0, 1].map((j) => ({ points: points.map((p) => [p.epoch, p.acc[j]]), color: COLORS[j],
                                 dash: j ? "6 4" : "", cls: j ? "without" : "with" })) });
  const last = points[points.length - 1];
  const status = $("#status");
  if (!run || !run.start) {
    status.textContent = run && !run.end ? t("run.loading") : "";
  } else {
    status.textContent = t("bn.status", { k: last ? last.epoch + 1 : 0, n: epochs,
      std: fmt(run.start.settings.weight_scale, 3),
      bn: last ? pct(last.acc[0]) : "–", plain: last ? pct(last.acc[1]) : "–" });
  }
  const end = $("#end");
  end.hidden = !(run && run.end);
  if (run && run.end) {
    const e = run.end;
    const nan = last && last.diverged[1];
    end.className = "callout" + (e.status === "failed" ? " bad" : e.status === "stopped" ? " warn" : "");
    end.textContent = e.status === "failed" ? said(e.message, e.message_code, e.message_params)
      : t(e.status === "stopped" ? "bn.stopped" : "bn.done", { k: points.length }) + (nan ? " " + t("bn.nan") : "");
  }
  renderHists(points);
  renderNote();
}

function renderHists(points) {
  const box = $("#layers");
  const layers = runs.run && runs.run.start ? runs.run.start.layers : 5;
  if (box.children.length !== layers) {
    box.replaceChildren(...Array.from({ length: layers }, (_, i) => {
      const b = el("button", { type: "button", class: "button", "data-layer": i + 1, text: String(i + 1) });
      b.addEventListener("click", () => { state.layer = i + 1; render(); });
      return b;
    }));
  }
  for (const b of box.children) b.classList.toggle("on", Number(b.dataset.layer) === state.layer);
  const at = $("#at");
  at.max = Math.max(points.length - 1, 0);
  const k = state.at == null ? points.length - 1 : Math.min(state.at, points.length - 1);
  at.value = Math.max(k, 0);
  $("#at-out").textContent = points.length ? String(points[k].epoch + 1) : "–";
  const trio = $("#hists");
  if (!points.length) {
    trio.replaceChildren();
    return;
  }
  const h = points[k].layers[state.layer - 1];
  const parts = [["affine", "bn.h.plain", COLORS[1]], ["bn_affine", "bn.h.before", "#7a8699"],
                 ["bn_normalized", "bn.h.after", COLORS[0]]];
  trio.replaceChildren(...parts.map(([key, word, color]) => {
    const svg = svgEl("svg", { role: "img", "aria-label": t(word, { i: state.layer }) });
    drawHistogram(svg, h[key], { color, W: 300, H: 140 });
    return el("figure", { "data-part": key }, el("figcaption", { text: t(word, { i: state.layer }) }), svg,
              el("div", { class: "stats", text: t("bn.h.stats", { mean: fmt(h[key].mean, 3), std: fmt(h[key].std, 3) }) }));
  }));
}

function wire() {
  $("#scale").addEventListener("input", render);
  $("#epochs").addEventListener("input", render);
  $("#scale").addEventListener("change", () => runs.restart(form()));
  $("#epochs").addEventListener("change", () => runs.restart(form()));
  $("#at").addEventListener("input", (e) => {
    const n = runs.run ? runs.run.events.filter((x) => x.type === "point").length : 0;
    state.at = Number(e.target.value) >= n - 1 ? null : Number(e.target.value);
    render();
  });
  runs.wireButtons(form, state, renderNote);
}

async function main() {
  await setup("ch6");
  await mountHeader("ch6-batchnorm");
  const latest = await runs.load();
  const p = runs.presets;
  $("#scale").max = p.weight_scales.length - 1;
  $("#epochs").max = p.max_epochs;
  $("#epochs").value = p.epochs;
  if (!latest.run) $("#scale").value = p.weight_scales.indexOf(p.weight_scale);
  wire();
  const retitle = () => { document.title = `chainrule · ${t("nav.ch6-batchnorm")}`; };
  onLanguage(() => { retitle(); render(); });
  retitle();
  render();
  window.addEventListener("resize", schedule);
  if (!latest.run) runs.start(form()); // a first visit: the book's setting, at once
}

main();
