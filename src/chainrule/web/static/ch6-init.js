// The initial-weights page: each layer's activation histogram (the book's figures 6-10
// to 6-14) and the gradients coming back through the same layers. The histograms are
// the server's (chainrule.book.activation_histograms, chainrule's layers); this script
// draws them.

import { mountHeader } from "./chrome.js";
import { onLanguage, setup, t } from "./i18n.js";
import { $, api, drawHistogram, el, fmt, fromLog, noteText, svgEl, toLog } from "./ch6.js";

const state = { activation: "sigmoid", scale: 1, seed: 0, answer: null, error: null };
const FIGURES = { "sigmoid:1": "6-10", "sigmoid:0.01": "6-11", "sigmoid:xavier": "6-13",
                  "relu:0.01": "6-14", "relu:xavier": "6-14", "relu:he": "6-14" };

let inflight = false, dirty = false;
function request() {
  dirty = true;
  pump();
}

async function pump() {
  if (inflight || !dirty) return;
  dirty = false;
  inflight = true;
  try {
    state.answer = await api("POST", "/api/ch6/init", { activation: state.activation,
                                                       scale: state.scale, seed: state.seed });
    state.error = null;
  } catch (err) {
    state.error = { body: err.data || { error: err.message } };
  } finally {
    inflight = false;
  }
  render();
  if (dirty) pump();
}

function figure(id, hist, color, yMax, caption, stats) {
  const svg = svgEl("svg", { role: "img", "aria-label": caption });
  drawHistogram(svg, hist, { color, yMax, W: 200, H: 130 });
  return el("figure", { "data-layer": id }, el("figcaption", { text: caption }), svg,
            el("div", { class: "stats", text: stats }));
}

function render() {
  for (const b of document.querySelectorAll("#activation .button")) b.classList.toggle("on", b.dataset.value === state.activation);
  for (const b of document.querySelectorAll("#scale .button")) b.classList.toggle("on", b.dataset.value === String(state.scale));
  $("#init-error").textContent = noteText(state.error);
  const a = state.answer;
  if (!a) return;
  $("#scale-out").textContent = fmt(a.std, 3);
  if (typeof state.scale === "number") $("#scale-slider").value = toLog(state.scale);
  const fig = FIGURES[`${a.activation}:${a.scale}`];
  $("#init-figure").textContent = t("init.now", { std: fmt(a.std, 4), activation: a.activation, loss: fmt(a.loss) })
    + (fig ? " " + t("init.figure", { fig }) : "");
  const values = $("#values"), grads = $("#grads");
  const vMax = Math.max(...a.layers.map((l) => Math.max(...l.values.counts)), 1);
  const gMax = Math.max(...a.layers.map((l) => Math.max(...l.grads.counts)), 1);
  values.replaceChildren(...a.layers.map((l, i) => figure(i + 1, l.values, "#1f6feb", vMax,
    t("init.layer", { i: i + 1 }),
    t("init.valueStats", { mean: fmt(l.values.mean, 3), std: fmt(l.values.std, 3),
                           out: l.values.below + l.values.above }))));
  grads.replaceChildren(...a.layers.map((l, i) => figure(i + 1, l.grads, "#d62728", gMax,
    t("init.layer", { i: i + 1 }),
    t("init.gradStats", { std: fmt(l.grads.std, 3), dw: fmt(l.weight_grad_rms, 3) }))));
  $("#values-note").textContent = t("init.valuesNote", { lo: fmt(a.layers[0].values.edges[0]),
    hi: fmt(a.layers[0].values.edges[a.layers[0].values.edges.length - 1]) });
  $("#grads-note").textContent = t("init.gradsNote", { top: fmt(a.layers[0].grads.edges[a.layers[0].grads.edges.length - 1], 3) });
}

function wire() {
  for (const b of document.querySelectorAll("#activation .button")) {
    b.addEventListener("click", () => { state.activation = b.dataset.value; render(); request(); });
  }
  for (const b of document.querySelectorAll("#scale .button")) {
    b.addEventListener("click", () => {
      const v = b.dataset.value;
      state.scale = v === "xavier" || v === "he" ? v : Number(v);
      render();
      request();
    });
  }
  $("#scale-slider").addEventListener("input", (e) => {
    state.scale = fromLog(e.target.value);
    $("#scale-out").textContent = fmt(state.scale, 3);
    render();
    request();
  });
  $("#seed").addEventListener("change", (e) => {
    state.seed = Number(e.target.value);
    request();
  });
}

async function main() {
  await setup("ch6");
  await mountHeader("ch6-init");
  wire();
  const retitle = () => { document.title = `chainrule · ${t("nav.ch6-init")}`; };
  onLanguage(() => { retitle(); render(); });
  retitle();
  render();
  request();
}

main();
