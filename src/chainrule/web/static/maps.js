// Feature maps, filters and gradients drawn as small pictures, for the lab's convolution
// pages (the convnet lab, the network lab's view of a convnet). The numbers come from
// the server; these functions only colour them.
//
// kinds: "grad"     blue (negative) – white – red (positive), ±scale: gradients, as the
//                   network lab's heatmap of dL/dx
//        "value"    orange (negative) – white – blue (positive), ±scale: values (a feature
//                   map before ReLU), as the network lab's hidden activations
//        "positive" white – blue, 0..scale (activations after ReLU, pooled maps)
//        "gray"     the book's filters (figure 7-24, gray_r): each picture from its own
//                   smallest (white) to its largest (black) number

import { diverging, largest } from "./labkit.js";

function colour(v, kind, scale, lo, hi) {
  if (v == null) return "#fbe3e3";
  if (kind === "gray") {
    const g = Math.round(255 * (1 - (hi > lo ? (v - lo) / (hi - lo) : 0.5)));
    return `rgb(${g},${g},${g})`;
  }
  if (kind === "positive" || (kind === "value" && v >= 0)) {
    const f = Math.max(0, Math.min(1, v / scale));
    return `rgb(${Math.round(255 - 226 * f)},${Math.round(255 - 178 * f)},${Math.round(255 - 96 * f)})`;
  }
  if (kind === "value") {
    const f = Math.max(0, Math.min(1, -v / scale));
    return `rgb(${Math.round(255 - 21 * f)},${Math.round(255 - 167 * f)},${Math.round(255 - 243 * f)})`;
  }
  return diverging(v / scale);
}

// values: h*w numbers (row-major); the canvas gets px pixels a number
export function paintMap(canvas, values, h, w, { kind = "grad", scale = null, px = 3, grid = 0,
                                                 marks = null } = {}) {
  canvas.width = w * px;
  canvas.height = h * px;
  const ctx = canvas.getContext("2d");
  let lo = Infinity, hi = -Infinity;
  if (kind === "gray") for (const v of values) if (v != null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const s = scale || largest(values);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    ctx.fillStyle = colour(values[i * w + j], kind, s, lo, hi);
    ctx.fillRect(j * px, i * px, px, px);
  }
  if (grid > 0) {  // lines every `grid` cells: the pooling windows
    ctx.strokeStyle = "rgba(17,24,39,0.25)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = grid; k < h; k += grid) { ctx.moveTo(0, k * px + 0.5); ctx.lineTo(w * px, k * px + 0.5); }
    for (let k = grid; k < w; k += grid) { ctx.moveTo(k * px + 0.5, 0); ctx.lineTo(k * px + 0.5, h * px); }
    ctx.stroke();
  }
  if (marks) {  // cells outlined: [[i, j, faint], ...]
    ctx.lineWidth = Math.max(1, px / 6);
    for (const [i, j, faint] of marks) {
      ctx.strokeStyle = faint ? "rgba(17,24,39,0.22)" : "#111827";
      ctx.strokeRect(j * px + 1, i * px + 1, px - 2, px - 2);
    }
  }
  return canvas;
}

export function mapCanvas(values, h, w, opts = {}) {
  const canvas = document.createElement("canvas");
  canvas.className = "map";
  return paintMap(canvas, values, h, w, opts);
}

// the cell (i, j) of a map under a pointer event on its canvas, or null
export function cellAt(canvas, e, h, w) {
  const r = canvas.getBoundingClientRect();
  const j = Math.floor((e.clientX - r.left) / r.width * w), i = Math.floor((e.clientY - r.top) / r.height * h);
  return i >= 0 && i < h && j >= 0 && j < w ? [i, j] : null;
}

// numbers as a table shows them: with one power of ten taken out when they are all tiny
// or large ("× 1e-5" beside the table); [texts, exponent or 0]
export function scaled(values) {
  const m = largest(values, 0);
  const e = m > 0 ? Math.floor(Math.log10(m)) : 0;
  const k = e < -2 || e > 3 ? e : 0;
  const text = (v) => {
    if (v == null) return "–";
    const x = k ? v / 10 ** k : v;
    if (x === 0) return "0";
    const a = Math.abs(x);
    return a >= 1e4 || a < 1e-3 ? x.toExponential(2) : String(Number(x.toPrecision(3)));
  };
  return [values.map(text), k];
}

// the input cell that a pooling window's maximum came from: window (i, j), arg in the
// window row-major, pool [ph, pw, stride]
export function argCell(i, j, arg, pool) {
  const [, pw, stride] = pool;
  return [i * stride + Math.floor(arg / pw), j * stride + (arg % pw)];
}
