// One step of learning: the true label, the learning rate and the batch the step is
// taken on (the picture alone, N = 1, or among random training images); the server takes
// the step (chainrule.nn.probe.learn_step, on a copy) and this module shows what moved,
// and why it moved so far when it did.

import { t } from "./i18n.js";
import {
  $, api, drawHeat, dropNotes, el, fmtNum, fmtPct, fmtPctFine, fmtSigned, setNote, state, svgEl, typed,
} from "./net_kit.js";
import { channelMaps, isMaps } from "./netconv.js";

let page = null;

export function setupLearn(pageHooks) {
  page = pageHooks;
  $("#learn-go").addEventListener("click", takeStep);
  // a refusal of what was typed is stale once the field changes
  $("#learn-lr").addEventListener("input", () => dropNotes("typed"));
  $("#learn-among").addEventListener("change", () => dropNotes("typed"));
}

// the step's results belong to the input, network and label they were taken with
export function clearLearned() {
  if (!state.learned) return;
  state.learned = null;
  renderLearn();
}

async function takeStep() {
  setNote("learn-error", null);
  const body = page.inputBody();
  if (!body) return refuse({ key: "learn.needInput", about: "input" });
  if (state.learnLabel == null) return refuse({ key: "learn.needLabel", about: "label" });
  body.label = state.learnLabel;
  body.lr = typed($("#learn-lr").value);
  body.among = Number(document.querySelector('#learn-among input[name="among"]:checked').value);
  try {
    state.learned = await api("POST", "/api/learn", body);
  } catch (e) {
    return refuse({ body: e.data || { error: e.message }, about: "typed" });
  }
  renderLearn();
}

// a step refused: the note says why, and the last step's results go (they are not this one's)
function refuse(note) {
  clearLearned();
  setNote("learn-error", note);
}

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

export function renderLearn() {
  const L = state.learned;
  $("#learn-out").hidden = !L;
  if (!L) return;
  renderFlow(L);
  renderMoved(L);
  renderWhy(L);
  renderChanges(L);
}

function renderFlow(L) {
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
      drawHeat(c, layer.grad, L.input, L.shape);
      stage.append(c);
    } else if (isMaps(layer)) { // a convnet's layer: its channels as maps, not bars
      stage.append(channelMaps(layer, "grad", () => renderLearn()));
    } else {
      stage.append(barsSvg(layer.grad));
    }
    flow.append(stage);
  });
  // more layers than the width holds: say that the row scrolls
  requestAnimationFrame(() => { $("#flow-cue").hidden = flow.scrollWidth <= flow.clientWidth + 1; });
}

function renderMoved(L) {
  const cls = L.class_names;
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
  moved.append(el("p", { class: "note", id: "loss-moved", text: t("learn.lossMoved", {
    k: cls[L.label], a: fmtNum(L.before.loss), b: fmtNum(L.after.loss), n: L.n, lr: L.lr }) }));
  if (L.n > 1) {
    moved.append(el("p", { class: "note", id: "batch-loss", text: t("learn.batchLoss", {
      n: L.n, a: fmtNum(L.batch_loss.before), b: fmtNum(L.batch_loss.after) }) }));
  }
}

// Why the step moved the probabilities as far as it did: the scores before softmax
// (the server's numbers: before, after and the change) of the label and its rival.
function renderWhy(L) {
  const cls = L.class_names, s = L.scores, k = L.label, r = L.rival;
  const vars = {
    k: cls[k], r: cls[r], n: L.n, others: L.n - 1, lr: L.lr,
    ka: fmtNum(s.before[k]), kb: fmtNum(s.after[k]), kd: fmtSigned(s.change[k]),
    ra: fmtNum(s.before[r]), rb: fmtNum(s.after[r]), rd: fmtSigned(s.change[r]),
    pa: fmtPctFine(L.before.probabilities[k]), pb: fmtPctFine(L.after.probabilities[k]),
  };
  const key = L.n > 1 ? "learn.whyBatch" : L.large ? "learn.whyLarge" : "learn.whyOne";
  const why = $("#why");
  why.dataset.kind = key;
  why.classList.toggle("large", L.n === 1 && L.large);
  why.textContent = t(key, vars);
}

function renderChanges(L) {
  const cls = L.class_names;
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
      el("td", { class: c.delta >= 0 ? "up" : "down", text: fmtSigned(c.delta) })));
  }
}
