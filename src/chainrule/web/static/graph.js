// The graph lab's page. It only shows and asks: every number on it comes from
// POST /api/graph, where the library's own layers compute it. What runs here is
// bookkeeping (which input changed, which step we are on, which arrow is selected)
// and drawing the answer.

import { mountHeader } from "./chrome.js";
import { has, message, onLanguage, said, setup, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const EXAMPLES = ["(x + y) ** 2", "sigmoid(w * x + b)", "exp(x) / (1 + exp(x))", "relu(x) * y",
                  "x * log(x)"];
const DEBOUNCE_MS = { input: 40, expression: 350 };

const state = {
  graphs: [], // GET /api/graphs
  source: null, // {name} or {expression}
  values: {}, // input name -> number, as sent
  answer: null, // the last good POST /api/graph answer
  edge: null, // the selected edge id
  step: { mode: null, pos: -1 }, // mode: "forward" | "backward" | null
  refusal: null, // the last error answer {data, body}, until an answer is drawn
};

// -- talking to the server -------------------------------------------------------------
let pending = null; // the newest request not yet sent
let busy = false;
let timer = null;
let sent = 0;

function ask(delay = 0) {
  clearTimeout(timer);
  const body = { ...state.source, inputs: { ...state.values } };
  if (state.edge !== null) body.edge = state.edge;
  timer = setTimeout(() => {
    pending = body;
    if (!busy) pump();
  }, delay);
}

async function pump() {
  busy = true;
  while (pending) {
    const body = pending;
    pending = null;
    const id = ++sent;
    const slow = setTimeout(() => showStatus(t("status.computing"), "busy"), 300);
    try {
      const response = await fetch("/api/graph", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json();
      // one question at a time, so answers come in order: each is newer than the last drawn
      if (response.ok) accept(data, body);
      else refuse(data, body);
    } catch (err) {
      showStatus(t("status.offline"), "error");
    } finally {
      clearTimeout(slow);
      if (id === sent && !pending) clearBusy();
    }
  }
  busy = false;
}

function accept(data, body) {
  const sameGraph = state.answer && sameSource(state.answer.source, data.source) &&
    state.answer.nodes.length === data.nodes.length;
  state.answer = data;
  if (!sameGraph) state.step = { mode: null, pos: -1 };
  if (state.edge !== null && !data.edges.some((e) => e.id === state.edge)) state.edge = null;
  for (const [name, input] of Object.entries(data.inputs)) {
    if (input.editable && typeof input.value === "number") state.values[name] = input.value;
  }
  state.refusal = null;
  hideExpressionError();
  showStatus("", "");
  render();
  // for tests and scripts: how many answers the page has drawn
  document.body.dataset.answers = String(Number(document.body.dataset.answers || 0) + 1);
}

function refuse(data, body) {
  state.refusal = { data, body }; // worded again if the language changes
  const words = message(data, t("status.failed")); // the server's code, in the page's words
  const field = data.field || "";
  if (body.expression !== undefined && field === "expression") {
    showExpressionError(body.expression, words, data.offset, data.length);
  } else if (field.startsWith("inputs.")) {
    showInputError(field.slice(7), words);
  } else {
    showStatus(words, "error");
  }
}

function sameSource(a, b) {
  return a && b && a.name === b.name && a.expression === b.expression;
}

// -- choosing a graph ------------------------------------------------------------------
function choose(name) {
  const graph = state.graphs.find((g) => g.name === name);
  if (!graph) return;
  state.source = { name };
  state.values = { ...graph.inputs };
  state.edge = null;
  state.step = { mode: null, pos: -1 };
  $("expression").classList.remove("active");
  hideExpressionError();
  markPicker();
  remember();
  ask();
}

function typeExpression(text, delay = DEBOUNCE_MS.expression) {
  if (!text.trim()) return;
  state.source = { expression: text };
  state.edge = null;
  $("expression").classList.add("active");
  markPicker();
  remember();
  ask(delay);
}

function remember() {
  const hash = state.source.name !== undefined
    ? `graph=${encodeURIComponent(state.source.name)}`
    : `expr=${encodeURIComponent(state.source.expression)}`;
  history.replaceState(null, "", `#${hash}`);
}

function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("expr")) return { expression: params.get("expr") };
  if (params.has("graph")) return { name: params.get("graph") };
  return null;
}

function buildPicker() {
  const picker = $("picker");
  picker.replaceChildren();
  for (const graph of state.graphs) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button pick";
    button.dataset.graph = graph.name;
    button.setAttribute("role", "radio");
    button.dataset.i18n = `graph.name.${graph.name}`;
    button.textContent = t(`graph.name.${graph.name}`);
    button.addEventListener("click", () => choose(graph.name));
    picker.append(button);
  }
  const examples = $("examples");
  examples.replaceChildren();
  for (const text of EXAMPLES) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.textContent = text;
    chip.addEventListener("click", () => {
      $("expression").value = text;
      typeExpression(text, 0);
    });
    examples.append(chip);
  }
}

function markPicker() {
  for (const button of $("picker").children) {
    const on = state.source && button.dataset.graph === state.source.name;
    button.setAttribute("aria-checked", String(Boolean(on)));
  }
}

// -- drawing the answer ------------------------------------------------------------------
function render() {
  const data = state.answer;
  if (!data) return;
  renderTitle(data);
  renderInputs(data);
  renderDrawing(data);
  renderSteps();
  renderEdge(data);
}

function outName(data) {
  return data.output.name ? varName(data, data.output.name) : t("result.output");
}

// a built-in graph's value by the name the book's translation gives it ("price": 支払金額)
function varName(data, name) {
  const key = `var.${data.source.name}.${name}`;
  return data.source.name !== undefined && has(key) ? t(key) : name;
}

function renderTitle(data) {
  const title = $("graph-title");
  if (data.source.name !== undefined) {
    title.textContent = t(`graph.title.${data.source.name}`);
  } else {
    title.replaceChildren(t("graph.title.expression") + " ", code(data.source.expression));
  }
  document.title = `chainrule · ${t("nav.graph")}`;
  const result = $("result");
  result.replaceChildren(
    span("result-name", outName(data)), " = ", span("result-value num", data.output.text));
}

function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function code(text) {
  const c = document.createElement("code");
  c.textContent = text;
  return c;
}

function renderDrawing(data) {
  const box = $("drawing");
  box.innerHTML = data.svg; // made by chainrule.draw: text escaped, no scripts
  const svg = box.querySelector("svg");
  if (!svg) return;
  svg.style.setProperty("--natural", `${svg.getAttribute("width")}px`);
  svg.removeAttribute("height");
  for (const group of svg.querySelectorAll("g.edge")) {
    const id = Number(group.dataset.edge);
    group.setAttribute("tabindex", "0");
    group.setAttribute("role", "button");
    group.setAttribute("aria-label", edgeLabel(data.edges.find((e) => e.id === id)));
    group.addEventListener("click", () => selectEdge(id));
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        selectEdge(id);
      }
    });
  }
}

function edgeLabel(edge) {
  if (!edge) return "";
  if (edge.name) return varName(state.answer, edge.name);
  if (edge.kind === "constant") return t("edge.constant");
  const node = state.answer.nodes.find((n) => n.id === edge.from);
  return t("edge.output_of", { node: nodeName(node) });
}

function nodeName(node) {
  if (!node) return "";
  return node.symbol ? t("node.symbol", { symbol: node.symbol }) : node.label;
}

function selectEdge(id) {
  state.edge = state.edge === id ? null : id;
  if (state.edge === null) {
    renderEdge(state.answer);
    markEdges();
  } else {
    markEdges();
    $("edge-detail").replaceChildren(hint(t("status.computing")));
    ask();
  }
}

function markEdges() {
  for (const group of $("drawing").querySelectorAll("g.edge")) {
    group.classList.toggle("selected", Number(group.dataset.edge) === state.edge);
  }
}

// -- inputs --------------------------------------------------------------------------------
function renderInputs(data) {
  const box = $("inputs");
  const names = Object.keys(data.inputs);
  const shown = [...box.querySelectorAll(".input")].map((row) => row.dataset.name);
  const same = shown.length === names.length && shown.every((n, i) => n === names[i]) &&
    [...box.querySelectorAll(".input")].every((row, i) =>
      (row.dataset.editable === "true") === data.inputs[names[i]].editable);
  if (!same) box.replaceChildren(...names.map((name) => inputRow(name, data.inputs[name])));
  for (const name of names) updateInput(box.querySelector(`.input[data-name="${name}"]`),
                                        name, data.inputs[name], data);
  const anyEditable = names.some((n) => data.inputs[n].editable);
  const anyArray = names.some((n) => data.inputs[n].value !== null &&
                                     typeof data.inputs[n].value === "object");
  $("inputs-hint").textContent = names.length === 0 ? t("inputs.none")
    : anyEditable ? t("inputs.hint") : anyArray ? t("inputs.arrays") : t("inputs.fixed");
}

function inputRow(name, input) {
  const row = document.createElement("div");
  row.className = "input";
  row.dataset.name = name;
  row.dataset.editable = String(input.editable);
  const id = `input-${name}`;
  row.innerHTML = `
    <div class="input-head">
      <label class="input-name num"></label>
      <span class="input-gloss"></span>
    </div>
    <div class="input-controls"></div>
    <dl class="check">
      <div><dt class="grad-label"></dt><dd class="grad num backprop"></dd></div>
      <div><dt class="num-label"></dt><dd class="num numerical"></dd></div>
      <div class="verdict"></div>
    </dl>
    <div class="error input-error" hidden></div>`;
  const label = row.querySelector("label");
  label.textContent = name;
  label.htmlFor = id;
  if (input.editable) {
    const field = document.createElement("input");
    field.type = "number";
    field.step = "any";
    field.id = id;
    field.className = "num";
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = input.slider.min;
    slider.max = input.slider.max;
    slider.step = input.slider.step;
    slider.setAttribute("aria-label", name);
    field.value = String(input.value);
    slider.value = String(input.value);
    field.addEventListener("input", () => {
      const text = field.value.trim();
      const number = Number(text);
      if (text === "" || !Number.isFinite(number)) {
        field.classList.add("invalid");
        return;
      }
      field.classList.remove("invalid");
      if (number < Number(slider.min)) slider.min = String(number);
      if (number > Number(slider.max)) slider.max = String(number);
      slider.value = String(number);
      changeInput(name, number);
    });
    slider.addEventListener("input", () => {
      field.value = slider.value;
      field.classList.remove("invalid");
      changeInput(name, Number(slider.value));
    });
    row.querySelector(".input-controls").append(field, slider);
  } else {
    const value = document.createElement("span");
    value.className = "num fixed-value";
    value.id = id;
    row.querySelector(".input-controls").append(value);
  }
  return row;
}

function updateInput(row, name, input, data) {
  row.querySelector(".input-gloss").textContent =
    data.source.name !== undefined && has(`input.${data.source.name}.${name}`)
      ? t(`input.${data.source.name}.${name}`) : "";
  const field = row.querySelector('input[type="number"]');
  if (field && document.activeElement !== field) field.value = String(input.value);
  const fixed = row.querySelector(".fixed-value");
  if (fixed) fixed.textContent = input.text;
  const label = row.querySelector(".grad-label");
  label.textContent = t("check.partial", { out: outName(data), x: varName(data, name) });
  label.title = t("check.backprop", { out: outName(data), x: varName(data, name) });
  row.querySelector(".backprop").textContent = input.grad_text || "—";
  row.querySelector(".num-label").textContent = t("check.numerical_short");
  row.querySelector(".numerical").textContent = input.numerical_text || "—";
  const box = row.querySelector(".verdict");
  verdict(box, input);
  if (input.grad !== null && input.numerical === null) {
    box.textContent = t("check.on_click"); // an array: checked when its arrow is clicked
  }
  box.classList.toggle("note", input.agree === null);
  row.querySelector(".input-error").hidden = true;
}

function verdict(box, check) {
  box.className = "verdict";
  if (check.agree === true) {
    box.classList.add("ok");
    box.textContent = "✓ " + t("check.agree");
  } else if (check.agree === false) {
    box.classList.add("bad");
    box.textContent = "✗ " + t("check.differ");
  } else {
    box.textContent = check.grad === null ? t("check.no_grad") : "";
  }
  if (check.max_rel_error !== undefined && check.agree !== null) {
    box.title = t("check.rel_error", { err: fmt(check.max_rel_error) });
  }
}

function changeInput(name, number) {
  state.values[name] = number;
  ask(DEBOUNCE_MS.input);
}

function showInputError(name, text) {
  const row = $("inputs").querySelector(`.input[data-name="${name}"]`);
  if (!row) return showStatus(text, "error");
  const box = row.querySelector(".input-error");
  box.textContent = text;
  box.hidden = false;
}

// -- expression errors -------------------------------------------------------------------------
function showExpressionError(text, words, offset, length) {
  $("expression-message").textContent = `${t("expr.error")} ${words}`;
  const where = $("expression-where");
  if (Number.isInteger(offset) && offset >= 0 && offset <= text.length) {
    const width = Math.max(1, Math.min(Number.isInteger(length) ? length : 1, text.length - offset));
    where.textContent = `${text}\n${" ".repeat(offset)}${"^".repeat(width)}`;
    where.hidden = false;
  } else {
    where.hidden = true;
  }
  $("expression-error").hidden = false;
  $("expression").classList.add("invalid");
  $("expression").setAttribute("aria-invalid", "true");
}

function hideExpressionError() {
  $("expression-error").hidden = true;
  $("expression").classList.remove("invalid");
  $("expression").removeAttribute("aria-invalid");
}

// -- stepping through ------------------------------------------------------------------------
function step(mode) {
  const data = state.answer;
  if (!data) return;
  const order = data.order[mode];
  if (state.step.mode !== mode) state.step = { mode, pos: 0 };
  else if (state.step.pos < order.length - 1) state.step.pos += 1;
  renderSteps();
}

function renderSteps() {
  const data = state.answer;
  const { mode, pos } = state.step;
  const svg = $("drawing").querySelector("svg");
  const order = mode ? data.order[mode] : [];
  const done = new Set(order.slice(0, pos + 1));
  const current = mode ? order[pos] : null;
  if (svg) {
    for (const group of svg.querySelectorAll("g.node")) {
      const id = Number(group.dataset.node);
      group.classList.toggle("current", id === current);
      group.classList.toggle("pending", mode === "forward" && !done.has(id));
    }
    for (const group of svg.querySelectorAll("g.edge")) {
      const edge = data.edges.find((e) => e.id === Number(group.dataset.edge));
      const valueKnown = mode !== "forward" || edge.from === null || done.has(edge.from);
      const gradKnown = mode === null ||
        (mode === "backward" && (edge.id === data.output.edge ||
          (edge.to.length > 0 && edge.to.every((n) => done.has(n)))));
      group.classList.toggle("pending-value", !valueKnown);
      group.classList.toggle("pending-grad", !gradKnown);
    }
    markEdges();
  }
  $("step-forward").disabled = mode === "forward" && pos >= order.length - 1;
  $("step-backward").disabled = mode === "backward" && pos >= order.length - 1;
  $("step-reset").disabled = mode === null;
  const where = $("step-where");
  const rule = $("rule");
  if (!mode) {
    where.textContent = t("step.idle");
    rule.replaceChildren();
    return;
  }
  const node = data.nodes.find((n) => n.id === current);
  where.replaceChildren(
    span("step-count", t(`step.${mode}_count`, { n: pos + 1, total: order.length })), " ",
    span("step-node", nodeName(node)));
  rule.replaceChildren(...ruleParts(node, mode, data));
}

function ruleParts(node, mode, data) {
  const parts = [];
  const edge = (id) => data.edges.find((e) => e.id === id);
  const r = node.rule;
  if (r) {
    // backward: the forward line first, for the numbers the gradients are made of; a
    // line with words besides its symbols comes with a code, worded in the page's language
    const back = (r.backward || []).map((line, i) =>
      said(line, (r.backward_code || [])[i], (r.backward_params || [])[i]));
    const lines = [].concat(r.forward ? said(r.forward, r.forward_code, r.forward_params) : [],
                            mode === "backward" ? back : []);
    const pre = document.createElement("pre");
    pre.className = "rule-lines";
    pre.textContent = lines.join("\n");
    if (lines.length) parts.push(pre);
    if (r.note && has(`note.${r.note}`)) parts.push(hint(t(`note.${r.note}`)));
  }
  const table = pairs();
  const row = (label, cls, values) => pair(table, label, cls, values.join(",  "));
  const ins = node.inputs.map(edge);
  const out = edge(node.output);
  if (mode === "forward") {
    row(t("rule.in"), "value", ins.map((e) => e.value_text));
    row(t("rule.out"), "value", [out.value_text]);
  } else {
    row(t("rule.dout"), "grad", [out.grad_text || "—"]);
    row(t("rule.dins"), "grad", ins.map((e) => e.grad_text || "—"));
  }
  parts.push(table);
  return parts;
}

// -- one edge in full ---------------------------------------------------------------------------
function renderEdge(data) {
  const box = $("edge-detail");
  const c = data.check;
  if (state.edge === null || !c || c.edge !== state.edge) {
    if (state.edge === null) box.replaceChildren(hint(t("edge.empty")));
    return;
  }
  const edge = data.edges.find((e) => e.id === c.edge);
  const head = document.createElement("div");
  head.className = "edge-head";
  head.append(span("edge-name", edgeLabel(edge)), " ", span("edge-kind", t(`edge.kind.${c.kind}`)));
  const close = document.createElement("button");
  close.type = "button";
  close.className = "button small";
  close.textContent = t("edge.close");
  close.addEventListener("click", () => selectEdge(state.edge));
  head.append(close);
  const list = pairs();
  const item = (label, cls, text) => pair(list, label, cls, text);
  item(t("edge.value"), "value", c.value_text);
  item(t("check.grad"), "grad", c.grad_text || "—");
  item(t("check.numerical"), "", c.numerical_text || "—");
  const v = document.createElement("div");
  verdict(v, c);
  if (c.why) v.textContent = t(`check.why.${c.why.replace(" ", "_")}`);
  if (c.agree !== null && c.max_rel_error !== undefined) {
    v.append(span("hint", " — " + t("check.rel_error", { err: fmt(c.max_rel_error) })));
  }
  const parts = [head, list, v];
  if (c.heatmaps) parts.push(heatmaps(c));
  box.replaceChildren(...parts);
}

function heatmaps(c) {
  const wrap = document.createElement("div");
  wrap.className = "heatmaps";
  const shape = c.value.shape.join(" × ");
  const summary = hint(t("edge.summary", { shape, norm: fmt(c.value.norm),
                                          gnorm: c.grad ? fmt(c.grad.norm) : "—" }));
  wrap.append(summary);
  for (const [key, map] of Object.entries(c.heatmaps)) {
    if (!map) continue;
    const figure = document.createElement("figure");
    figure.className = `heatmap ${key}`;
    const img = document.createElement("img");
    img.src = map.image;
    if (map.cols > 400) img.classList.add("dense"); // shrunk to fit: smooth, not pixelated
    img.alt = t(`edge.heatmap.${key}`);
    const caption = document.createElement("figcaption");
    caption.append(span(key === "grad" ? "grad" : "value", t(`edge.heatmap.${key}`)),
                   span("scale", `−${fmt(map.scale)}`), span("bar", ""),
                   span("scale", `+${fmt(map.scale)}`));
    figure.append(img, caption);
    wrap.append(figure);
  }
  return wrap;
}

// -- small things ---------------------------------------------------------------------------------
function pairs() {
  const list = document.createElement("dl");
  list.className = "pairs";
  return list;
}

function pair(list, label, cls, text) {
  const div = document.createElement("div");
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.className = `num ${cls}`;
  dd.textContent = text;
  div.append(dt, dd);
  list.append(div);
}

function hint(text) {
  const p = document.createElement("p");
  p.className = "hint";
  p.textContent = text;
  return p;
}

function fmt(x) {
  // display only: the server's numbers to 4 significant digits, as the drawings print them
  if (typeof x !== "number") return x === null || x === undefined ? "—" : String(x);
  return String(Number.parseFloat(x.toPrecision(4)));
}

function showStatus(text, kind) {
  const box = $("status");
  box.textContent = text;
  box.dataset.kind = kind;
}

function clearBusy() {
  if ($("status").dataset.kind === "busy") showStatus("", "");
}

// -- start -----------------------------------------------------------------------------------------
async function main() {
  await setup("graph");
  await mountHeader("graph");
  const response = await fetch("/api/graphs");
  const listing = await response.json();
  state.graphs = listing.graphs;
  buildPicker();
  const expression = $("expression");
  expression.addEventListener("input", () => typeExpression(expression.value));
  expression.addEventListener("keydown", (event) => {
    if (event.key === "Enter") typeExpression(expression.value, 0);
  });
  $("step-forward").addEventListener("click", () => step("forward"));
  $("step-backward").addEventListener("click", () => step("backward"));
  $("step-reset").addEventListener("click", () => {
    state.step = { mode: null, pos: -1 };
    renderSteps();
  });
  onLanguage(() => {
    markPicker();
    render();
    if (state.refusal) refuse(state.refusal.data, state.refusal.body);
  });
  const start = fromHash();
  if (start && start.expression) {
    expression.value = start.expression;
    typeExpression(start.expression, 0);
  } else {
    const name = start && state.graphs.some((g) => g.name === start.name)
      ? start.name : listing.default;
    choose(name);
  }
}

main();
