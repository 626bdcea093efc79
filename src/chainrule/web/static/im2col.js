// The im2col page: the book's convolution one window at a time. Every number comes from
// the server (POST /api/im2col: chainrule.core.conv's im2col, col2im and Convolution);
// this script draws them, steps through the rows and sends the learner's edits back.

import { mountHeader } from "./chrome.js";
import { message, onLanguage, setup, t } from "./i18n.js";
import { $, api, el } from "./labkit.js";

const SIZES = ["n", "c", "h", "w", "fn", "fh", "fw", "stride", "pad"];
const FIRST = { n: 1, c: 1, h: 4, w: 4, fn: 1, fh: 2, fw: 2, stride: 1, pad: 0 };
const MAX_VALUE = 1000;
// which sizes each array's shape depends on: an edited array is kept while they stay
const SHAPED_BY = {
  x: ["n", "c", "h", "w"], W: ["fn", "c", "fh", "fw"], b: ["fn"],
  dout: ["n", "fn", "h", "w", "fh", "fw", "stride", "pad"],
};

const state = {
  sizes: { ...FIRST },
  seed: 0,
  given: { x: null, W: null, b: null, dout: null }, // arrays the learner edited
  answer: null,      // the last POST /api/im2col answer
  numerical: null,   // the last numerical check (answers while stepping col2im skip it)
  row: 0,            // the window the forward stepper is on
  upto: 0,           // rows col2im has added so far
  error: null,       // an error body to show
  playing: null,
};

const fmt = (v) => {
  if (v == null) return "–";
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : String(Number(v.toPrecision(4)));
};
const copy = (a) => JSON.parse(JSON.stringify(a));

// ------------------------------------------------------------------ asking the server

let asking = null;
let again = null;

// one request at a time; the latest wish wins
async function ask({ check = true } = {}) {
  if (asking) { again = { check: check || (again && again.check) }; return asking; }
  const body = { ...state.sizes, seed: state.seed, upto: state.upto, check };
  for (const [k, v] of Object.entries(state.given)) if (v) body[k] = v;
  asking = (async () => {
    try {
      const answer = await api("POST", "/api/im2col", body);
      state.answer = answer;
      state.error = null;
      if (check) state.numerical = answer.checks.numerical;
      state.row = Math.min(state.row, answer.sizes.rows - 1);
      state.upto = Math.min(state.upto, answer.sizes.rows);
    } catch (err) {
      state.error = err.data || { error: err.message };
    }
  })();
  await asking;
  asking = null;
  render();
  if (again) {
    const next = again;
    again = null;
    await ask(next);
  }
}

// ------------------------------------------------------------------ the sizes form

const form = $("#sizes");

// the sizes typed in (NaN for an empty or unreadable field: nothing is sent then)
function readSizes() {
  const out = {};
  for (const k of SIZES) {
    const text = String(form.elements[k].value).trim();
    out[k] = text ? Math.round(Number(text)) : NaN;
  }
  return out;
}

function writeSizes() {
  for (const k of SIZES) form.elements[k].value = state.sizes[k];
}

form.addEventListener("change", () => {
  const sizes = readSizes();
  if (SIZES.some((k) => !Number.isFinite(sizes[k]))) return;
  for (const [name, deps] of Object.entries(SHAPED_BY)) {
    if (deps.some((k) => sizes[k] !== state.sizes[k])) state.given[name] = null;
  }
  state.sizes = sizes;
  state.row = 0;
  state.upto = 0;
  ask();
});
form.addEventListener("submit", (e) => e.preventDefault());

$("#random").addEventListener("click", () => {
  state.seed = (state.seed + 1) % 2147483647;
  state.given = { x: null, W: null, b: null, dout: null };
  state.upto = 0;
  ask();
});

$("#reset").addEventListener("click", () => {
  state.sizes = { ...FIRST };
  state.given = { x: null, W: null, b: null, dout: null };
  state.row = 0;
  state.upto = 0;
  writeSizes();
  ask();
});

// ------------------------------------------------------------------ steppers

function rows() {
  return state.answer ? state.answer.sizes.rows : 0;
}

function setRow(r) {
  state.row = Math.max(0, Math.min(rows() - 1, r));
  renderForward();
}

function stopPlay() {
  if (state.playing) clearInterval(state.playing);
  state.playing = null;
  $("#fwd-play").textContent = t("step.play");
}

$("#fwd-first").addEventListener("click", () => { stopPlay(); setRow(0); });
$("#fwd-prev").addEventListener("click", () => { stopPlay(); setRow(state.row - 1); });
$("#fwd-next").addEventListener("click", () => { stopPlay(); setRow(state.row + 1); });
$("#fwd-play").addEventListener("click", () => {
  if (state.playing) return stopPlay();
  if (state.row >= rows() - 1) setRow(0);
  $("#fwd-play").textContent = t("step.pause");
  state.playing = setInterval(() => {
    if (state.row >= rows() - 1) return stopPlay();
    setRow(state.row + 1);
  }, 700);
});

function setUpto(k) {
  state.upto = Math.max(0, Math.min(rows(), k));
  ask({ check: false });
}

$("#bwd-first").addEventListener("click", () => setUpto(0));
$("#bwd-prev").addEventListener("click", () => setUpto(state.upto - 1));
$("#bwd-next").addEventListener("click", () => setUpto(state.upto + 1));
$("#bwd-all").addEventListener("click", () => setUpto(rows()));

// ------------------------------------------------------------------ grids

// a 2-D grid of numbers; cell(i, j) -> {value, cls, edit: path or null, sub}
function grid(h, w, cell, label) {
  const box = el("div", { class: "grid", role: "table" });
  box.style.gridTemplateColumns = `repeat(${w}, var(--cell))`;
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    const c = cell(i, j);
    let node;
    if (c.edit) {
      node = el("input", { class: "cell " + (c.cls || ""), value: fmt(c.value), inputmode: "decimal",
                           "data-edit": c.edit, "aria-label": `${label} [${i}, ${j}]`, spellcheck: "false" });
      node.addEventListener("change", onEdit);
    } else {
      node = el("span", { class: "cell " + (c.cls || ""), role: "cell" }, fmt(c.value));
    }
    node.dataset.i = i;
    node.dataset.j = j;
    if (c.pos) node.dataset.pos = c.pos;
    if (c.sub != null) {
      const wrap = el("span", { class: "cellbox " + (c.cls || "") }, node, el("small", { class: "sub", text: c.sub }));
      wrap.dataset.i = i;
      wrap.dataset.j = j;
      box.append(wrap);
    } else {
      box.append(node);
    }
  }
  return box;
}

function figure(caption, ...kids) {
  return el("figure", { class: "fig" }, el("figcaption", { text: caption }), ...kids);
}

// an edit of one number of x, W, b or dout: path "x:n:c:i:j"
function onEdit(e) {
  const input = e.target;
  const v = Number(String(input.value).trim().replace("−", "-"));
  if (!String(input.value).trim() || !Number.isFinite(v) || Math.abs(v) > MAX_VALUE) {
    input.classList.add("bad");
    input.title = t("edit.bad", { max: MAX_VALUE });
    return;
  }
  const [name, ...index] = input.dataset.edit.split(":").map((s, k) => (k ? Number(s) : s));
  const a = state.given[name] || copy(state.answer[name]);
  let target = a;
  for (const k of index.slice(0, -1)) target = target[k];
  target[index[index.length - 1]] = v;
  state.given[name] = a;
  ask();
}

// ------------------------------------------------------------------ rendering

function render() {
  const box = $("#error");
  box.hidden = !state.error;
  box.textContent = state.error ? message(state.error, t("error.unknown")) : "";
  if (!state.answer) return;
  const focus = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.edit : null;
  renderSizes();
  renderForward();
  renderBackward();
  if (focus) {
    const again = document.querySelector(`[data-edit="${focus}"]`);
    if (again) again.focus();
  }
}

function renderSizes() {
  const s = state.answer.sizes;
  const exact = (s.h + 2 * s.pad - s.fh) % s.stride === 0 && (s.w + 2 * s.pad - s.fw) % s.stride === 0;
  $("#shape-note").textContent = t(exact ? "setup.shapes" : "setup.shapesFloor", {
    h: s.h, w: s.w, fh: s.fh, fw: s.fw, p: s.pad, s: s.stride, oh: s.oh, ow: s.ow,
    rows: s.rows, cols: s.cols, n: s.n, c: s.c });
}

function windowOf(r) {
  const [n, i, j, top, left] = state.answer.windows[r];
  return { n, i, j, top, left };
}

function inWindow(win, s, y, x) {
  return win && y >= win.top && y < win.top + s.fh && x >= win.left && x < win.left + s.fw;
}

function renderForward() {
  const A = state.answer;
  if (!A) return;
  const s = A.sizes, r = state.row, win = windowOf(r);
  $("#fwd-where").textContent = t("fwd.where", { r, last: s.rows - 1 });
  $("#fwd-explain").textContent = t("fwd.explain", { r, n: win.n, i: win.i, j: win.j,
    top: win.top, left: win.left, fh: s.fh, fw: s.fw });
  $("#fwd-prev").disabled = $("#fwd-first").disabled = r === 0;
  $("#fwd-next").disabled = r >= s.rows - 1;
  // the padded input, the window on it
  const xs = $("#x-grids");
  xs.replaceChildren();
  for (let n = 0; n < s.n; n++) for (let c = 0; c < s.c; c++) {
    const g = grid(s.h + 2 * s.pad, s.w + 2 * s.pad, (y, x) => {
      const pad = y < s.pad || x < s.pad || y >= s.h + s.pad || x >= s.w + s.pad;
      const on = n === win.n && inWindow(win, s, y, x);
      return { value: A.padded[n][c][y][x], cls: (pad ? "pad" : "") + (on ? " win" : ""),
               edit: pad ? null : `x:${n}:${c}:${y - s.pad}:${x - s.pad}`, pos: `${n}:${c}:${y}:${x}` };
    }, `x[${n}, ${c}]`);
    xs.append(figure(t("fwd.xname", { n, c }), g));
  }
  // the filters and biases, editable
  const ws = $("#w-grids");
  ws.replaceChildren();
  for (let f = 0; f < s.fn; f++) {
    const kids = [];
    for (let c = 0; c < s.c; c++) {
      kids.push(grid(s.fh, s.fw, (y, x) => ({ value: A.W[f][c][y][x], edit: `W:${f}:${c}:${y}:${x}`,
                                               pos: `w:${c}:${y}:${x}` }), `W[${f}, ${c}]`));
    }
    const bias = el("input", { class: "cell bias", value: fmt(A.b[f]), inputmode: "decimal",
                               "data-edit": `b:${f}`, "aria-label": `b[${f}]` });
    bias.addEventListener("change", onEdit);
    ws.append(figure(t("fwd.wname", { f }), el("div", { class: "channels" }, ...kids),
                     el("label", { class: "biasline" }, el("span", { text: `b${sub(f)} =` }), bias)));
  }
  renderCol();
  renderProduct(win);
  $("#fwd-check").textContent = checkText("fwd.check", A.checks.forward);
  $("#fwd-check").className = "check " + (A.checks.forward.agree ? "ok" : "bad");
}

const SUBS = "₀₁₂₃₄₅₆₇₈₉";
const sub = (k) => String(k).split("").map((d) => SUBS[d]).join("");

function columnHead(table, s, A, corner) {
  const head = el("thead");
  if (s.c > 1) {
    const groups = el("tr", {}, el("th", {}));
    for (let c = 0; c < s.c; c++) {
      const th = el("th", { class: "group", colspan: s.fh * s.fw, text: t("fwd.channel", { c }) });
      groups.append(th);
    }
    head.append(groups);
  }
  const tr = el("tr", {}, el("th", { class: "corner", text: corner }));
  A.columns.forEach(([c, y, x], k) => tr.append(el("th", { title: `c=${c}, (${y}, ${x})`, "data-k": k,
                                                           class: x === 0 && k ? "first" : "" }, `${y},${x}`)));
  head.append(tr);
  table.append(head);
}

function renderMatrix(table, values, { on, done, label, s, A, corner }) {
  table.replaceChildren();
  columnHead(table, s, A, corner);
  const body = el("tbody");
  values.forEach((row, r) => {
    const win = windowOf(r);
    const tr = el("tr", { "data-row": r, class: (r === on ? "on" : "") + (done && done(r) ? " done" : "") },
                  el("th", { title: t("fwd.rowTitle", { r, n: win.n, i: win.i, j: win.j }), text: label(r, win) }));
    row.forEach((v, k) => {
      const [c, y, x] = A.columns[k];
      const td = el("td", { "data-k": k, class: x === 0 && k ? "first" : "" }, fmt(v));
      if (r === on) td.dataset.pos = `${win.n}:${c}:${win.top + y}:${win.left + x}`;
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(body);
  const current = table.querySelector("tr.on");
  if (current) {
    const box = table.parentElement;
    const top = current.offsetTop - box.clientHeight / 2;
    box.scrollTop = Math.max(0, top);
  }
}

function rowLabel(r, win) {
  return `${r}: (${win.n}, ${win.i}, ${win.j})`;
}

function renderCol() {
  const A = state.answer, s = A.sizes;
  $("#col-shape").textContent = `(${s.rows} × ${s.cols})`;
  renderMatrix($("#col"), A.col, { on: state.row, label: rowLabel, s, A, corner: t("fwd.corner") });
  $("#colw-shape").textContent = `(${s.cols} × ${s.fn})`;
  const table = $("#colw");
  table.replaceChildren();
  const head = el("tr", {}, el("th", { class: "corner" }));
  for (let f = 0; f < s.fn; f++) head.append(el("th", { text: t("fwd.filterCol", { f }) }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  A.col_W.forEach((row, k) => {
    const [c, y, x] = A.columns[k];
    body.append(el("tr", { "data-k": k }, el("th", { title: `c=${c}` }, s.c > 1 ? `${c}: ${y},${x}` : `${y},${x}`),
      ...row.map((v) => el("td", {}, fmt(v)))));
  });
  table.append(body);
}

function renderProduct(win) {
  const A = state.answer, s = A.sizes, r = state.row;
  const box = $("#fwd-sum");
  box.replaceChildren();
  for (let f = 0; f < s.fn; f++) {
    const terms = A.col[r].map((v, k) => `${fmt(v)}×${paren(A.col_W[k][f])}`);
    const written = s.cols <= 12 ? terms.join(" + ") : t("fwd.manyTerms", { k: s.cols });
    const value = A.product[r][f];
    box.append(el("p", { class: "line", "data-f": f },
      el("span", { class: "lhs", text: `out[${win.n}, ${f}, ${win.i}, ${win.j}] = ` }),
      el("span", { class: "terms", text: `${written} + ${paren(A.b[f])} = ` }),
      el("b", { class: "value", id: f === 0 ? "fwd-out" : null, text: fmt(value) })));
  }
  const outs = $("#out-grids");
  outs.replaceChildren();
  for (let n = 0; n < s.n; n++) for (let f = 0; f < s.fn; f++) {
    outs.append(figure(t("fwd.outname", { n, f }), grid(s.oh, s.ow, (i, j) => ({
      value: A.out[n][f][i][j], cls: n === win.n && i === win.i && j === win.j ? "win" : "" }))));
  }
}

const paren = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));

function checkText(key, c) {
  if (!c) return "";
  const e = c.max_rel_error;
  return t(key, { mark: c.agree ? "✓" : "✗", err: e == null ? "–" : e === 0 ? "0" : e.toExponential(1),
                  rtol: c.rtol.toExponential(0) });
}

function renderBackward() {
  const A = state.answer, s = A.sizes, k = state.upto;
  const last = k > 0 ? windowOf(k - 1) : null;
  $("#bwd-where").textContent = k ? t("bwd.where", { k, k1: k - 1, rows: s.rows })
    : t("bwd.whereNone", { rows: s.rows });
  $("#bwd-prev").disabled = $("#bwd-first").disabled = k === 0;
  $("#bwd-next").disabled = $("#bwd-all").disabled = k >= s.rows;
  const douts = $("#dout-grids");
  douts.replaceChildren();
  for (let n = 0; n < s.n; n++) for (let f = 0; f < s.fn; f++) {
    douts.append(figure(t("bwd.doutname", { n, f }), grid(s.oh, s.ow, (i, j) => ({
      value: A.dout[n][f][i][j], edit: `dout:${n}:${f}:${i}:${j}`,
      cls: last && n === last.n && i === last.i && j === last.j ? "win" : "" }), `dout[${n}, ${f}]`)));
  }
  $("#dcol-shape").textContent = `(${s.rows} × ${s.cols})`;
  renderMatrix($("#dcol"), A.dcol, { on: k - 1, done: (r) => r < k, label: rowLabel, s, A,
                                     corner: t("fwd.corner") });
  const dxs = $("#dx-grids");
  dxs.replaceChildren();
  for (let n = 0; n < s.n; n++) for (let c = 0; c < s.c; c++) {
    dxs.append(figure(t("bwd.dxname", { n, c }), grid(s.h + 2 * s.pad, s.w + 2 * s.pad, (y, x) => {
      const pad = y < s.pad || x < s.pad || y >= s.h + s.pad || x >= s.w + s.pad;
      const on = last && n === last.n && inWindow(last, s, y, x);
      const count = A.counts[n][c][y][x], cover = A.coverage[n][c][y][x];
      return { value: A.sums[n][c][y][x], sub: `${count}/${cover}`,
               cls: (pad ? "pad" : "") + (on ? " win" : "") + (count === cover ? " full" : "") };
    })));
  }
  const box = $("#bwd-check");
  if (k < s.rows) {
    box.textContent = t("bwd.pending");
    box.className = "check";
    return;
  }
  const layer = A.checks.layer, num = state.numerical;
  box.textContent = `${checkText("bwd.checkLayer", layer)} ${checkText("bwd.checkNum", num)}`;
  box.className = "check " + (layer.agree && (!num || num.agree) ? "ok" : "bad");
}

// ------------------------------------------------------------------ hovering: a number and its place

function pairUp(e) {
  const node = e.target.closest("[data-pos]");
  for (const old of document.querySelectorAll(".pair")) old.classList.remove("pair");
  if (!node || !node.dataset.pos) return;
  for (const same of document.querySelectorAll(`[data-pos="${node.dataset.pos}"]`)) same.classList.add("pair");
}
document.addEventListener("pointerover", pairUp);

// ------------------------------------------------------------------ start

function renderAll() {
  document.title = `chainrule · ${t("nav.im2col")}`;
  if (!state.playing) $("#fwd-play").textContent = t("step.play");
  render();
}

async function main() {
  await setup("im2col");
  await mountHeader("im2col");
  onLanguage(renderAll);
  writeSizes();
  await ask();
  document.body.dataset.ready = "1";
}

main();
