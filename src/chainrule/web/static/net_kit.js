// What the network lab's modules share (net.js: the model, the drawing and the
// prediction; net_learn.js: one step of learning; net_train.js: training; net_link.js:
// the address): the page's state, notes under forms, numbers as typed, the words for
// numbers and networks, and the gradient's heatmap. The small helpers every page of the
// lab uses (elements, the server's API, a run's events, numbers) live in labkit.js and
// the pad's pixels in pad.js; this module passes them on. Every number comes from the
// server; these only show it.

import { message, t } from "./i18n.js";
import { diverging, fmtNum, fmtPct } from "./labkit.js";

// the small helpers every page's script shares, and the pad's pixels: one home each
export { $, api, el, fmtNum, fmtPct, follow, svgEl } from "./labkit.js";
export { paintPixels } from "./pad.js";

// ------------------------------------------------------------------ state

export const state = {
  lab: null,            // GET /api/model
  model: null,          // the model in use (lab.model)
  prediction: null,     // POST /api/predict answer
  predictionError: null,
  learned: null,        // POST /api/learn answer (null: none, or stale)
  target: null,         // class whose gradient is shown (null: predicted)
  learnLabel: null,
  sample: null,         // GET /api/sample answer drawn on the pad
  run: null,            // the training run on the page: {id, mine, created, progress, evals, end}
};

export const names = () => (state.model ? state.model.class_names
  : [...Array(10).keys()].map(String));

// ------------------------------------------------------------------ numbers as words

// A probability as labkit.fmtPct writes it, with the digits a small one needs: 0.00072%,
// 1.2e-7% (a sentence quoting it).
export const fmtPctFine = (p) => (p != null && p > 0 && p < 0.0005
  ? (100 * p).toPrecision(2) + "%" : fmtPct(p));
export const fmtSigned = (v) => (v == null ? "–" : (v > 0 ? "+" : "") + fmtNum(v));

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

// What a field holds as the server should be told it: a finite number as a number,
// anything else as the text typed (full-width digits read as digits), so that a refusal
// says what was typed ("got "abc"") instead of what a conversion made of it.
export function typed(text) {
  const s = String(text ?? "").normalize("NFKC").trim();
  if (NUMBER.test(s) && Number.isFinite(Number(s))) return Number(s);
  return s;
}

const DATASETS = { mnist: "MNIST", "fashion-mnist": "Fashion-MNIST" };
export const datasetName = (id) => DATASETS[id] ?? (id === "digits" ? t("train.digits") : id);

const INITS = { he: "He", relu: "He", xavier: "Xavier", sigmoid: "Xavier" };

// A network's architecture ({class, sizes, activation, ...}: the server's fields) in the
// page's language; `fallback` (the server's English line) when there are no fields.
export function netWords(a, fallback = "") {
  if (!a || !a.class) return fallback;
  const sep = t("arch.sep");
  const parts = [];
  if (a.sizes) {
    parts.push(`${a.class} ${a.sizes.join("-")}`);
    if (a.activation) parts.push(t(`arch.${a.activation}`));
  } else if (a.convs) {
    const sizes = [...new Set(a.convs.map((c) => `${c.size}×${c.size}`))].join("/");
    parts.push(`${a.class} ${(a.input_dim || []).join("×")}`);
    parts.push(t("arch.conv", { n: a.convs.map((c) => c.filters).join("-"), size: sizes }));
    parts.push(t(a.pool_every > 1 ? "arch.poolEvery" : "arch.pool", { k: a.pool_every }));
    parts.push(t("arch.affine", { n: a.hidden }), t("arch.affine", { n: a.output }));
  }
  if (a.init != null) parts.push(t("arch.init", { v: INITS[a.init] ?? a.init }));
  if (a.batchnorm) parts.push(t("train.batchnorm"));
  if (a.dropout) parts.push(`${t("train.dropout")} ${a.dropout}`);
  if (a.weight_decay) parts.push(`${t("train.decay")} ${a.weight_decay}`);
  return parts.join(sep);
}

// ------------------------------------------------------------------ notes

// A note under a form: a page word ({key, vars}) or a server's error body ({body}), kept
// so that a language switch words it again; `about` names the state it speaks of
// ("input", "label", "typed", "first", "run", "link"), and dropNotes(about) clears the notes
// that a change of that state has made stale. null hides it.
const notes = {};

export function setNote(id, what) {
  notes[id] = what;
  renderNotes();
}

export function dropNotes(...about) {
  for (const [id, what] of Object.entries(notes)) {
    if (what && about.includes(what.about)) notes[id] = null;
  }
  renderNotes();
}

export function renderNotes() {
  for (const [id, what] of Object.entries(notes)) {
    const box = document.getElementById(id);
    box.hidden = !what;
    let text = "";
    if (what) {
      const said = what.body ? message(what.body, t("error.unknown")) : "";
      text = what.key ? t(what.key, { ...(what.vars || {}), message: said }) : said;
    }
    box.textContent = text;
  }
}

// ------------------------------------------------------------------ keyboard

// Arrow keys, Home and End move the focus between the buttons of a group (a row of
// class pickers), as in a toolbar; Enter or Space presses the focused one.
export function arrowKeys(group) {
  group.addEventListener("keydown", (e) => {
    const buttons = [...group.querySelectorAll("button:not([disabled])")];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1,
                   Home: 0, End: buttons.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    buttons[(next + buttons.length) % buttons.length].focus();
  });
}

// ------------------------------------------------------------------ pictures

// The gradient over the input as a heatmap, the input's ink as dots; returns the scale
// (the largest |gradient|), or null when there is nothing to draw.
export function drawHeat(canvas, grad, input, shape) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!grad) return null;
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
  return m;
}
