// Small things the lab's pages share: building elements, asking the server, following a
// training run's events, writing numbers, and the colours of values and gradients.

export const $ = (sel, root = document) => root.querySelector(sel);

export function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) node.append(kid);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

// A JSON request; a 4xx/5xx throws an Error whose .data is the server's error body.
export async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const response = await fetch(url, opts);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  if (!response.ok) {
    const err = new Error((data && data.error) || response.statusText);
    err.data = data || {};
    throw err;
  }
  return data;
}

// The events of a training run (GET /api/train/ID/events), one object each, until its end.
export function follow(runId, onEvent) {
  const source = new EventSource(`/api/train/${encodeURIComponent(runId)}/events`);
  source.onmessage = (m) => {
    const event = JSON.parse(m.data);
    onEvent(event);
    if (event.type === "end") source.close();
  };
  return source;
}

// A probability as a percentage with one decimal, honest at both ends: "<0.1%" for one
// that is not 0 but rounds to 0.0%, ">99.9%" for one that is not 1 but rounds to 100.0%.
export const fmtPct = (p) => {
  if (p == null) return "–";
  const s = (100 * p).toFixed(1);
  if (s === "0.0" && p > 0) return "<0.1%";
  return s === "100.0" && p < 1 ? ">99.9%" : s + "%";
};
export const fmtNum = (v) => (v == null ? "–" : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
  ? v.toExponential(2) : Number(v.toPrecision(3)).toString());

// diverging colours for signed numbers: blue (negative) - white - red (positive), s in -1..1
const NEG = [33, 102, 172], MID = [247, 247, 247], POS = [178, 24, 43];
export function diverging(s) {
  const [a, b, f] = s < 0 ? [MID, NEG, -s] : [MID, POS, s];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * Math.min(f, 1)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// the largest magnitude of a list of numbers (nulls count as 0), at least `floor`
export function largest(values, floor = 1e-30) {
  let m = floor;
  for (const v of values) if (v != null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}
