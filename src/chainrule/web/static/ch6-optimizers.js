// The optimizers page: the paths of six optimizers from a start point you drag, and each
// update written out with its numbers. Every number (paths, gradients, the optimizers'
// state, contour lines) comes from the server (chainrule.book.optimizer_paths); this
// script draws them and fills the formulas in.

import { mountHeader } from "./chrome.js";
import { onLanguage, setup, t } from "./i18n.js";
import { $, api, el, fmt, fromLog, noteText, svgEl, term, toLog } from "./ch6.js";

const COLORS = { sgd: "#e4572e", momentum: "#1f6feb", nesterov: "#8250df", adagrad: "#1a7f37",
                 rmsprop: "#bf8700", adam: "#d6336c" };
const NAMES = { sgd: "SGD", momentum: "Momentum", nesterov: "Nesterov", adagrad: "AdaGrad",
                rmsprop: "RMSprop", adam: "Adam" };
const BOOK_SHOWN = ["sgd", "momentum", "adagrad", "adam"];
const SYMBOL = { lr: "η", momentum: "α", decay_rate: "ρ", beta1: "β₁", beta2: "β₂" };
const RANGE = { momentum: [0, 0.99, 0.01], decay_rate: [0.5, 0.999, 0.001],
                beta1: [0, 0.99, 0.01], beta2: [0.9, 0.9999, 0.0001] };
const W = 800;

const state = {
  meta: null, surface: "book", contours: {}, start: [-7, 2], iters: 30,
  opts: {}, answer: null, step: 1, error: null, playing: null,
};

const surfaceMeta = () => state.meta.surfaces.find((s) => s.name === state.surface);
const height = () => { const [x0, x1, y0, y1] = surfaceMeta().view; return W * (y1 - y0) / (x1 - x0); };
function toSvg([x, y]) {
  const [x0, x1, y0, y1] = surfaceMeta().view;
  return [W * (x - x0) / (x1 - x0), height() * (y1 - y) / (y1 - y0)];
}
function toData(sx, sy) {
  const [x0, x1, y0, y1] = surfaceMeta().view;
  const x = x0 + (x1 - x0) * sx / W, y = y1 - (y1 - y0) * sy / height();
  return [Math.min(Math.max(x, x0), x1), Math.min(Math.max(y, y0), y1)];
}

// ------------------------------------------------------------------ settings

function usePreset() {
  const s = surfaceMeta();
  state.start = [...s.start];
  state.iters = s.iters;
  state.step = 1;
  for (const name of state.meta.optimizers) {
    const shown = state.opts[name] ? state.opts[name].shown : BOOK_SHOWN.includes(name);
    state.opts[name] = { shown, settings: { ...s.presets[name] } };
  }
  buildRows();
  renderSettings();
}

function buildRows() {
  const box = $("#opt-rows");
  box.replaceChildren();
  for (const name of state.meta.optimizers) {
    const o = state.opts[name];
    const check = el("input", { type: "checkbox", "data-opt": name });
    check.checked = o.shown;
    check.addEventListener("change", () => { o.shown = check.checked; row.classList.toggle("off", !o.shown); request(); });
    const head = el("label", { class: "head" }, check,
      el("span", { class: "swatch", style: `background:${COLORS[name]}` }), el("span", { text: NAMES[name] }));
    if (!state.meta.book_rates[name]) head.append(el("span", { class: "note", "data-i18n": "opt.notBook", text: t("opt.notBook") }));
    const sub = el("div", { class: "sub" });
    for (const key of state.meta.settings[name]) {
      const input = el("input", { type: "range", "data-opt": name, "data-key": key });
      const out = el("output", { text: fmt(o.settings[key]) });
      if (key === "lr") {
        Object.assign(input, { min: -4, max: 1, step: 0.01 });
        input.value = toLog(o.settings.lr);
      } else {
        const [lo, hi, step] = RANGE[key];
        Object.assign(input, { min: lo, max: hi, step });
        input.value = o.settings[key];
      }
      input.addEventListener("input", () => {
        o.settings[key] = key === "lr" ? fromLog(input.value) : Number(input.value);
        out.textContent = fmt(o.settings[key]);
        request();
      });
      sub.append(el("label", {}, el("span", { text: SYMBOL[key], title: key }), input, out));
    }
    const row = el("div", { class: "opt-row" + (o.shown ? "" : " off") }, head, sub);
    box.append(row);
  }
}

function renderSettings() {
  const s = surfaceMeta();
  $("#surface").value = state.surface;
  $("#formula").textContent = `f(x, y) = ${s.formula}`;
  $("#iters").value = state.iters;
  $("#iters-out").textContent = state.iters;
  $("#start-out").textContent = t("opt.start", { x: fmt(state.start[0], 3), y: fmt(state.start[1], 3) });
}

// ------------------------------------------------------------------ the server's paths

let inflight = false, dirty = false;
function request() {
  dirty = true;
  pump();
}

async function pump() {
  if (inflight || !dirty) return;
  dirty = false;
  const optimizers = {};
  for (const [name, o] of Object.entries(state.opts)) if (o.shown) optimizers[name] = o.settings;
  if (!Object.keys(optimizers).length) {
    state.answer = null;
    draw();
    return;
  }
  inflight = true;
  try {
    state.answer = await api("POST", "/api/ch6/paths", { surface: state.surface, start: state.start,
                                                        iters: state.iters, optimizers });
    state.error = null;
  } catch (err) {
    state.error = { body: err.data || { error: err.message } };
  } finally {
    inflight = false;
  }
  draw();
  if (dirty) pump();
}

async function contours(name) {
  if (!state.contours[name]) state.contours[name] = (await api("GET", `/api/ch6/surfaces/${name}`)).contours;
  return state.contours[name];
}

// ------------------------------------------------------------------ drawing

const LEVEL_COLORS = ["#440154", "#482878", "#3e4a89", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

function draw() {
  const svg = $("#plot"), H = height();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const u = W / Math.max(svg.clientWidth || W, 1); // viewBox units per screen pixel: dots keep their size
  svg.replaceChildren();
  const defs = svgEl("defs");
  const clip = svgEl("clipPath", { id: "view" });
  clip.append(svgEl("rect", { x: 0, y: 0, width: W, height: H }));
  defs.append(clip);
  svg.append(defs, svgEl("rect", { class: "ground", x: 0, y: 0, width: W, height: H, fill: "transparent" }));
  const lines = state.contours[state.surface] || [];
  lines.forEach((c, i) => {
    const color = LEVEL_COLORS[Math.round(i * (LEVEL_COLORS.length - 1) / Math.max(lines.length - 1, 1))];
    for (const line of c.lines) {
      svg.append(svgEl("polyline", { class: "contour", stroke: color, opacity: 0.55, "vector-effect": "non-scaling-stroke",
                                     points: line.map((p) => toSvg(p).map((v) => v.toFixed(1)).join(",")).join(" ") }));
    }
  });
  const s = surfaceMeta();
  const [ax, ay] = toSvg([0, 0]);
  svg.append(svgEl("line", { x1: 0, x2: W, y1: ay, y2: ay, stroke: "#e3e6eb" }),
             svgEl("line", { x1: ax, x2: ax, y1: 0, y2: H, stroke: "#e3e6eb" }));
  if (s.minimum) {
    const [mx, my] = toSvg(s.minimum);
    svg.append(svgEl("path", { d: `M${mx - 7 * u},${my}h${14 * u}M${mx},${my - 7 * u}v${14 * u}`, stroke: "#111",
                               "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" }));
  }
  const group = svgEl("g", { "clip-path": "url(#view)" });
  const answer = state.answer;
  const k = Math.min(state.step, state.iters - 1);
  for (const p of answer ? answer.paths : []) {
    const pts = p.points.filter((q) => q[0] != null && q[1] != null).map(toSvg);
    group.append(svgEl("polyline", { class: "path", stroke: COLORS[p.name], "data-opt": p.name,
                                     "vector-effect": "non-scaling-stroke",
                                     points: pts.map((q) => q.map((v) => v.toFixed(1)).join(",")).join(" ") }));
    for (const q of pts) group.append(svgEl("circle", { cx: q[0], cy: q[1], r: 2.3 * u, fill: COLORS[p.name] }));
    const at = pts[Math.min(k, pts.length - 1)];
    if (at) group.append(svgEl("circle", { class: "current", cx: at[0], cy: at[1], r: 5 * u, fill: "#fff",
                                           stroke: COLORS[p.name], "stroke-width": 2.5, "data-opt": p.name,
                                           "vector-effect": "non-scaling-stroke" }));
  }
  svg.append(group);
  const [hx, hy] = toSvg(state.start);
  const handle = svgEl("g", { class: "handle", id: "handle" });
  handle.append(svgEl("circle", { cx: hx, cy: hy, r: 22 * u, fill: "transparent" }),
                svgEl("circle", { cx: hx, cy: hy, r: 7 * u, fill: "#111", stroke: "#fff", "stroke-width": 2,
                                  "vector-effect": "non-scaling-stroke" }));
  svg.append(handle);
  const [x0, x1, y0, y1] = s.view;
  svg.append(svgEl("text", { x: 4 * u, y: H - 5 * u, class: "label", "font-size": 12 * u }, `x ${fmt(x0)} … ${fmt(x1)}`),
             svgEl("text", { x: W - 4 * u, y: 14 * u, class: "label", "text-anchor": "end", "font-size": 12 * u },
                   `y ${fmt(y0)} … ${fmt(y1)}`));
  renderSettings();
  renderStep();
  $("#opt-error").textContent = noteText(state.error);
}

// ------------------------------------------------------------------ the update, written out

function equations(p, i) {
  const s = p.settings, g = p.grads[i], st = p.states[i];
  const before = i > 0 ? p.states[i - 1] : null;
  const prev = (slot, c) => (before && before[slot] ? before[slot][c] : 0);
  const from = p.points[i], to = p.points[i + 1];
  const out = [];
  const line = (text, result) => out.push([text, result]);
  ["x", "y"].forEach((c, j) => {
    const d = `∂f/∂${c}`;
    if (p.name === "sgd") {
      line(`${c} ← ${c} − η·${d} = ${fmt(from[j])} − ${fmt(s.lr)} · ${term(g[j])} = `, to[j]);
    } else if (p.name === "momentum") {
      line(`v${c} ← α·v${c} − η·${d} = ${fmt(s.momentum)} · ${term(prev("v", j))} − ${fmt(s.lr)} · ${term(g[j])} = `, st.v[j]);
      line(`${c} ← ${c} + v${c} = ${fmt(from[j])} + ${term(st.v[j])} = `, to[j]);
    } else if (p.name === "nesterov") {
      line(`${c} ← ${c} + α²·v${c} − (1 + α)·η·${d} = ${fmt(from[j])} + ${fmt(s.momentum)}² · ${term(prev("v", j))} − (1 + ${fmt(s.momentum)}) · ${fmt(s.lr)} · ${term(g[j])} = `, to[j]);
      line(`v${c} ← α·v${c} − η·${d} = ${fmt(s.momentum)} · ${term(prev("v", j))} − ${fmt(s.lr)} · ${term(g[j])} = `, st.v[j]);
    } else if (p.name === "adagrad" || p.name === "rmsprop") {
      if (p.name === "adagrad") line(`h${c} ← h${c} + (${d})² = ${fmt(prev("h", j))} + ${term(g[j])}² = `, st.h[j]);
      else line(`h${c} ← ρ·h${c} + (1 − ρ)·(${d})² = ${fmt(s.decay_rate)} · ${fmt(prev("h", j))} + (1 − ${fmt(s.decay_rate)}) · ${term(g[j])}² = `, st.h[j]);
      line(`${c} ← ${c} − η·${d} / (√h${c} + 10⁻⁷) = ${fmt(from[j])} − ${fmt(s.lr)} · ${term(g[j])} / (√${fmt(st.h[j])} + 10⁻⁷) = `, to[j]);
    } else if (p.name === "adam") {
      line(`m${c} ← m${c} + (1 − β₁)·(${d} − m${c}) = ${term(prev("m", j))} + (1 − ${fmt(s.beta1)}) · (${term(g[j])} − ${term(prev("m", j))}) = `, st.m[j]);
      line(`v${c} ← v${c} + (1 − β₂)·((${d})² − v${c}) = ${fmt(prev("v", j))} + (1 − ${fmt(s.beta2)}) · (${term(g[j])}² − ${fmt(prev("v", j))}) = `, st.v[j]);
      if (j === 0) line(`η_t = η·√(1 − β₂ᵗ) / (1 − β₁ᵗ) = ${fmt(s.lr)} · √(1 − ${fmt(s.beta2)}^${st.t}) / (1 − ${fmt(s.beta1)}^${st.t}) = `, p.rates[i]);
      line(`${c} ← ${c} − η_t·m${c} / (√v${c} + 10⁻⁷) = ${fmt(from[j])} − ${fmt(p.rates[i])} · ${term(st.m[j])} / (√${fmt(st.v[j])} + 10⁻⁷) = `, to[j]);
    }
  });
  return out;
}

function renderStep() {
  const answer = state.answer;
  const n = state.iters;
  const slider = $("#step");
  slider.max = n - 1;
  state.step = Math.min(state.step, n - 1);
  slider.value = state.step;
  const k = state.step;
  $("#step-where").textContent = t("opt.where", { k, n: n - 1 });
  $("#updates-title").textContent = k === 0 ? t("opt.updates") : t("opt.updateOf", { k, a: k - 1, b: k });
  const box = $("#updates");
  box.replaceChildren();
  for (const p of answer ? answer.paths : []) {
    const card = el("div", { class: "update", "data-opt": p.name },
      el("h4", {}, el("span", { class: "swatch", style: `background:${COLORS[p.name]}` }), NAMES[p.name]));
    const i = k - 1;
    if (k === 0) {
      card.append(el("p", { class: "where", text: t("opt.atStart", {
        x: fmt(p.points[0][0]), y: fmt(p.points[0][1]), f: fmt(p.heights[0]) }) }));
    } else if (i >= p.grads.length) {
      card.append(el("p", { class: "escaped", text: t("opt.escaped", { k: p.escaped + 1 }) }));
    } else {
      const [x, y] = p.points[i], g = p.grads[i];
      card.append(el("p", { class: "where", text: t("opt.gradient", {
        x: fmt(x), y: fmt(y), gx: fmt(g[0]), gy: fmt(g[1]), f0: fmt(p.heights[i]), f1: fmt(p.heights[i + 1]) }) }));
      for (const [text, result] of equations(p, i)) {
        card.append(el("div", { class: "eq" }, text, el("span", { class: "res", text: fmt(result, 6) })));
      }
      if (p.escaped != null && i === p.escaped) card.append(el("p", { class: "escaped", text: t("opt.escaped", { k: p.escaped + 1 }) }));
    }
    box.append(card);
  }
}

// ------------------------------------------------------------------ interaction

function pointerData(e) {
  const svg = $("#plot");
  const m = svg.getScreenCTM().inverse();
  const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(m);
  return toData(pt.x, pt.y);
}

let dragging = false;
function wirePlot() {
  const svg = $("#plot");
  svg.addEventListener("pointerdown", (e) => {
    if (!e.target.closest("#handle")) return;
    e.preventDefault();
    dragging = true;
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener("pointermove", (e) => {
    if (!dragging) return;
    state.start = pointerData(e);
    draw();
    request();
  });
  const end = () => { if (dragging) { dragging = false; request(); } };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  svg.addEventListener("click", (e) => {  // a tap on the plane moves the start there
    if (e.target.closest("#handle")) return;
    state.start = pointerData(e);
    draw();
    request();
  });
}

function setStep(k) {
  state.step = Math.max(0, Math.min(k, state.iters - 1));
  draw();
}

function play() {
  if (state.playing) {
    clearInterval(state.playing);
    state.playing = null;
  } else {
    if (state.step >= state.iters - 1) state.step = 0;
    state.playing = setInterval(() => {
      if (state.step >= state.iters - 1) return play();
      setStep(state.step + 1);
    }, 300);
  }
  $("#play").textContent = t(state.playing ? "opt.pause" : "opt.play");
}

function wireControls() {
  $("#step").addEventListener("input", (e) => setStep(Number(e.target.value)));
  $("#step-first").addEventListener("click", () => setStep(0));
  $("#step-back").addEventListener("click", () => setStep(state.step - 1));
  $("#step-next").addEventListener("click", () => setStep(state.step + 1));
  $("#play").addEventListener("click", play);
  $("#iters").addEventListener("input", (e) => {
    state.iters = Number(e.target.value);
    renderSettings();
    request();
  });
  $("#surface").addEventListener("change", async (e) => {
    state.surface = e.target.value;
    await contours(state.surface);
    usePreset();
    request();
  });
  $("#preset").addEventListener("click", () => {
    for (const name of state.meta.optimizers) state.opts[name].shown = BOOK_SHOWN.includes(name);
    usePreset();
    request();
  });
}

async function main() {
  await setup("ch6");
  await mountHeader("ch6-optimizers");
  state.meta = await api("GET", "/api/ch6/surfaces");
  $("#iters").max = state.meta.max_iters;
  await contours(state.surface);
  usePreset();
  wirePlot();
  wireControls();
  window.addEventListener("resize", () => draw());
  onLanguage(() => {
    document.title = `chainrule · ${t("nav.ch6-optimizers")}`;
    buildRows();
    draw();
  });
  document.title = `chainrule · ${t("nav.ch6-optimizers")}`;
  draw();
  request();
}

main();
