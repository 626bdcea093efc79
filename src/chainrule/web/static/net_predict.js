// What the network makes of the input: the class probabilities (one button per class:
// press one to see the gradient of its loss), the hidden activations, dL/dx over the
// pixels, and beside the pad the input the network gets (the server's preprocessing of
// the drawing, 28×28) with the prediction in short, which on a phone stays in view while
// drawing. A polite live region tells a screen reader the prediction once it settles.

import { message, t } from "./i18n.js";
import { $, drawHeat, el, fmtNum, fmtPct, names, paintPixels, state } from "./net_kit.js";
import { channelMaps, isMaps } from "./netconv.js";

let page = null;

export function setupPredict(pageHooks) {
  page = pageHooks;
}

// The bars: one button per class (press one to see the gradient of its loss), made once
// per set of classes and then updated in place, so that the focus stays where it was.
function buildBars() {
  const bars = $("#bars"), cls = names();
  const key = cls.join("\u0001");
  if (bars.dataset.key === key) return;
  bars.dataset.key = key;
  bars.classList.toggle("wide-names", cls.some((n) => n.length > 2));
  bars.replaceChildren(...cls.map((name, c) => {
    const row = el("button", { type: "button", class: "bar empty", "data-class": c, title: name,
                               "aria-pressed": "false" },
      el("span", { class: "name", text: name }),
      el("span", { class: "track" }, el("span", { class: "fill" })),
      el("span", { class: "pct", text: "–" }));
    row.addEventListener("click", () => {
      const p = state.prediction;
      if (!p) return;
      page.setTarget(c === p.predicted && state.target == null ? null : c);
    });
    return row;
  }));
}

export function renderPrediction() {
  buildBars();
  const p = state.prediction, cls = names();
  const rows = [...$("#bars").children];
  renderSeen(p);
  if (!p) {
    for (const row of rows) {
      row.className = "bar empty";
      row.setAttribute("aria-pressed", "false");
      row.querySelector(".fill").style.width = "0";
      row.querySelector(".pct").textContent = "–";
    }
    $("#verdict-digit").textContent = "–";
    $("#verdict-text").textContent = message(state.predictionError, t("predict.empty"));
    $("#hidden").replaceChildren();
    drawHeat($("#heat"), null);
    setLegend(null);
    $("#grad-text").textContent = "";
    page.renderPickers();
    return;
  }
  const k = p.predicted;
  $("#verdict-digit").textContent = cls[k];
  $("#verdict-text").textContent = p.blank ? t("predict.blank")
    : p.too_small ? t("predict.tooSmall", { p: fmtPct(p.probabilities[k]) })
      : t("predict.says", { p: fmtPct(p.probabilities[k]) });
  rows.forEach((row, c) => {
    const q = p.probabilities[c];
    row.className = "bar" + (c === k ? " top" : "") + (c === p.target ? " target" : "");
    row.setAttribute("aria-pressed", String(c === p.target && state.target != null));
    row.setAttribute("aria-label", `${cls[c]}: ${fmtPct(q)}`);
    row.querySelector(".fill").style.width = (100 * (q ?? 0)) + "%";
    row.querySelector(".pct").textContent = fmtPct(q);
  });
  renderHidden(p.hidden);
  setLegend(drawHeat($("#heat"), p.input_grad, p.input, p.shape));
  $("#grad-text").textContent = t("grad.text", { k: cls[p.target] });
  page.renderPickers();
}

function setLegend(m) {
  $("#legend-lo").textContent = m == null ? "−" : "−" + fmtNum(m);
  $("#legend-hi").textContent = m == null ? "+" : "+" + fmtNum(m);
}

// What the network gets (the server's preprocessing of the drawing, 28×28) beside the
// pad, with the prediction in short: on a phone this strip stays in view while drawing.
function renderSeen(p) {
  const canvas = $("#seen-input"), ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const cls = names();
  const note = $("#ink-note");
  if (!p) {
    $("#mini-digit").textContent = "–";
    $("#mini-text").textContent = "";
    $("#seen-note").textContent = state.predictionError ? "" : t("seen.empty");
    note.hidden = true;
    $("#seen").classList.remove("small");
    return;
  }
  paintPixels(ctx, p.input, p.shape, canvas.width);
  $("#mini-digit").textContent = cls[p.predicted];
  $("#mini-text").textContent = fmtPct(p.probabilities[p.predicted]);
  const [h, w] = p.shape;
  $("#seen-note").textContent = p.blank ? t("seen.blank") : p.ink_extent == null
    ? t("seen.pixels", { h, w }) : t("seen.drawn", { h, w, extent: fmtPct(p.ink_extent) });
  $("#seen").classList.toggle("small", !!p.too_small);
  note.hidden = !p.too_small;
  note.textContent = p.too_small ? t("draw.tooSmall", { extent: fmtPct(p.ink_extent), h, w }) : "";
}

// the polite live region: the prediction once it settles (not at every stroke)
let announced = "";

// a language switch: say it again in the new words
export function announceAgain() {
  announced = "";
  if (state.prediction) announce();
}

export function announce() {
  const p = state.prediction;
  let text = "";
  if (p) {
    const k = names()[p.predicted], q = fmtPct(p.probabilities[p.predicted]);
    text = p.blank ? t("predict.blank") : p.too_small ? t("announce.tooSmall", { k, p: q })
      : t("announce.says", { k, p: q });
  }
  if (text !== announced) {
    announced = text;
    $("#announce").textContent = text;
  }
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
