// The graph lab's page. It only shows and asks: every number on it comes from
// POST /api/graph, where the library's own layers compute it. What runs here is
// bookkeeping (which input changed, which step we are on, which arrow is selected,
// what the address says) and drawing the answer.

import { mountHeader } from "./chrome.js";
import { linkText, parseLink, parseStep } from "./graph-link.js";
import { has, message, onLanguage, said, setup, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const EXAMPLES = ["(x + y) ** 2", "sigmoid(w * x + b)", "exp(x) / (1 + exp(x))", "relu(x) * y",
                  "x * log(x)"];
const DEBOUNCE_MS = { input: 40, expression: 350 };
const MIN_SCALE = 0.5; // smaller than this, the drawing's numbers are too small to read

const state = {
  graphs: [], // GET /api/graphs
  default: null, // the graph shown when the address names none
  source: null, // {name} or {expression}
  values: {}, // input name -> number, as sent
  unusable: {}, // input name -> {kind, text}: a field that holds no usable number
  answer: null, // the last good POST /api/graph answer
  edge: null, // the selected edge id
  step: { mode: null, pos: -1 }, // mode: "forward" | "backward" | null
  pendingStep: null, // {mode, n} from the address, applied when the answer comes
  notes: [], // what the address asked for that could not be done: [key, params]
  refusal: null, // the last error answer {data, body}, until an answer is drawn
  fit: null, // the drawing scaled to the width (true), its own size and panned (false), or
  // null: scaled where that keeps it at least MIN_SCALE of its size, else panned
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
        body: json(body),
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
  if (state.pendingStep) {
    const { mode, n } = state.pendingStep;
    if (n <= data.order[mode].length) state.step = { mode, pos: n - 1 };
    else state.notes.push(["link.bad_step", { text: `${mode}:${n}` }]);
    state.pendingStep = null;
    announceStep();
  }
  if (state.edge !== null && !data.edges.some((e) => e.id === state.edge)) state.edge = null;
  for (const [name, input] of Object.entries(data.inputs)) {
    if (input.editable && typeof input.value === "number") state.values[name] = input.value;
  }
  state.refusal = null;
  hideExpressionError();
  showStatus("", "");
  render();
  remember();
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

// JSON as the server reads it, -0 kept (JSON.stringify writes it as 0: log(-0) is -inf
// where log(0) is... -inf too, but 1 / -0 is -inf where 1 / 0 is inf)
function json(body) {
  const mark = "\u0000negative zero\u0000";
  return JSON.stringify(body, (key, value) => (Object.is(value, -0) ? mark : value))
    .split(JSON.stringify(mark)).join("-0.0");
}

// a number as the page writes it in a field or a link: -0 as -0
function numberText(x) {
  return Object.is(x, -0) ? "-0" : String(x);
}

function sameSource(a, b) {
  return a && b && a.name === b.name && a.expression === b.expression;
}

// -- the address: what you see, as a link (graph-link.js) --------------------------------
function remember() {
  if (!state.source) return;
  const graph = state.source.name !== undefined
    ? state.graphs.find((g) => g.name === state.source.name) : null;
  const text = linkText({ source: state.source, inputs: state.values,
                          defaults: graph ? graph.inputs : null, step: state.step,
                          edge: state.edge });
  if (location.hash.slice(1) !== text || location.search) {
    history.replaceState(null, "", `${location.pathname}#${text}`);
  }
}

// open what a link says: the graph or expression, its inputs, the step and the arrow
function openLink(text) {
  const link = parseLink(text);
  const notes = link.bad.map((part) => ["link.bad_part", { text: part }]);
  let source = null;
  if (link.expr !== null && link.expr.trim()) {
    source = { expression: link.expr };
  } else if (link.graph !== null) {
    if (state.graphs.some((g) => g.name === link.graph)) source = { name: link.graph };
    else notes.push(["link.unknown_graph", { name: link.graph }]);
  }
  source = source || state.source || { name: state.default };
  const graph = source.name !== undefined ? state.graphs.find((g) => g.name === source.name)
    : null;
  const values = graph ? { ...graph.inputs } : {};
  for (const [name, value] of Object.entries(link.inputs)) {
    const number = Number(value);
    if (graph && !(name in graph.inputs)) notes.push(["link.unknown_input", { name }]);
    else if (!value.trim() || !Number.isFinite(number)) {
      notes.push(["link.bad_number", { name, text: value }]);
    } else values[name] = number;
  }
  const step = parseStep(link.step);
  if (link.step !== null && !step) notes.push(["link.bad_step", { text: link.step }]);
  const edge = /^[0-9]{1,6}$/.test(link.edge || "") ? Number(link.edge) : null;
  if (link.edge !== null && edge === null) notes.push(["link.bad_edge", { text: link.edge }]);
  state.source = source;
  state.values = values;
  state.unusable = {};
  state.edge = edge;
  state.step = { mode: null, pos: -1 };
  state.pendingStep = step;
  state.notes = notes;
  state.answer = null; // the next answer is drawn afresh
  $("inputs").replaceChildren();
  const box = $("expression");
  box.value = source.expression !== undefined ? source.expression : "";
  box.classList.toggle("active", source.expression !== undefined);
  hideExpressionError();
  markPicker();
  showNotes();
  ask(0);
}

function showNotes() {
  const box = $("link-notes");
  box.replaceChildren(...state.notes.map(([key, params]) => hint(t(key, params))));
  box.hidden = state.notes.length === 0;
}

// -- choosing a graph ------------------------------------------------------------------
function choose(name) {
  const graph = state.graphs.find((g) => g.name === name);
  if (!graph) return;
  state.source = { name };
  state.values = { ...graph.inputs };
  state.unusable = {};
  state.edge = null;
  state.step = { mode: null, pos: -1 };
  state.notes = [];
  showNotes();
  $("expression").classList.remove("active");
  hideExpressionError();
  markPicker();
  ask();
}

function typeExpression(text, delay = DEBOUNCE_MS.expression) {
  if (!text.trim()) return;
  state.source = { expression: text };
  state.edge = null;
  state.notes = [];
  showNotes();
  $("expression").classList.add("active");
  markPicker();
  ask(delay);
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
  // a radio group: one stop for Tab, the arrow keys move (and choose) within it
  picker.addEventListener("keydown", (event) => {
    const buttons = [...picker.querySelectorAll('[role="radio"]')];
    const i = buttons.indexOf(document.activeElement);
    const n = buttons.length;
    const j = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1 + n, ArrowUp: i - 1 + n,
                Home: 0, End: n - 1 }[event.key];
    if (i < 0 || j === undefined) return;
    event.preventDefault();
    const next = buttons[j % n];
    next.focus();
    choose(next.dataset.graph);
  });
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
  const buttons = [...$("picker").children];
  const on = buttons.find((b) => state.source && b.dataset.graph === state.source.name);
  for (const button of buttons) {
    button.setAttribute("aria-checked", String(button === on));
    button.tabIndex = button === (on || buttons[0]) ? 0 : -1;
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
  if (data.title_code) {
    title.textContent = said(data.title, data.title_code, data.title_params);
  } else if (data.source.name !== undefined) {
    title.textContent = t(`graph.title.${data.source.name}`);
  } else {
    title.replaceChildren(t("graph.title.expression") + " ", code(data.source.expression));
  }
  document.title = `chainrule · ${t("nav.graph")}`;
  $("result").replaceChildren(
    span("result-name", outName(data)), " = ", span("result-value num", data.output.text));
  const origin = $("origin");
  origin.textContent = data.output.value_origin
    ? t("origin.value", { value: data.output.text, why: saidOrigin(data.output, "value") }) : "";
  origin.hidden = !data.output.value_origin;
  origin.dataset.code = data.output.value_origin_code || "";
}

// where a NaN or infinite value (key "value") or gradient ("grad") came from, worded
function saidOrigin(item, key) {
  return said(item[`${key}_origin`], item[`${key}_origin_code`], item[`${key}_origin_params`]);
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
  const focused = document.activeElement && document.activeElement.closest
    ? document.activeElement.closest("#drawing g.edge") : null;
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
  // the node a NaN or an infinity first came from
  const origins = new Set(data.edges.map((e) => (e.value_origin_params || {}).node)
    .filter((n) => n !== undefined));
  for (const group of svg.querySelectorAll("g.node")) {
    group.classList.toggle("origin", origins.has(Number(group.dataset.node)));
  }
  // an input whose field holds no usable number: the value the graph uses, marked
  for (const name of Object.keys(state.unusable)) {
    const input = data.inputs[name];
    const group = input && svg.querySelector(`g.edge[data-edge="${input.edge}"]`);
    if (group) group.classList.add("held");
  }
  if (focused) { // a re-render keeps the focus on the same arrow
    const again = svg.querySelector(`g.edge[data-edge="${focused.dataset.edge}"]`);
    if (again) again.focus({ preventScroll: true });
  }
  markEdges();
  fitDrawing();
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
  markEdges();
  remember();
  if (state.edge === null) {
    renderEdge(state.answer);
  } else {
    $("edge-detail").replaceChildren(hint(t("status.computing")));
    ask();
  }
}

function markEdges() {
  for (const group of $("drawing").querySelectorAll("g.edge")) {
    const on = Number(group.dataset.edge) === state.edge;
    group.classList.toggle("selected", on);
    group.setAttribute("aria-pressed", String(on));
  }
}

// the drawing scaled to the width, or at its own size with a cue that it pans
function fitDrawing() {
  const box = $("drawing");
  const svg = box.querySelector("svg");
  const natural = svg ? Number(svg.getAttribute("width")) || 0 : 0;
  const fit = state.fit ?? (!natural || box.clientWidth >= MIN_SCALE * natural);
  box.classList.toggle("fit", fit);
  $("fit").setAttribute("aria-pressed", String(fit));
  const scrolls = box.scrollWidth > box.clientWidth + 1;
  $("pan-cue").hidden = !scrolls;
  box.classList.toggle("scrolls", scrolls);
  box.classList.toggle("at-end", box.scrollLeft + box.clientWidth >= box.scrollWidth - 1);
  box.tabIndex = scrolls ? 0 : -1; // a panned drawing scrolls with the arrow keys too
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
    <p class="unusable" id="unusable-${name}" role="status" hidden></p>
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
    field.type = "text"; // not "number": the page reads what was typed, 1e400 or "abc" too
    field.spellcheck = false;
    field.autocomplete = "off";
    field.id = id;
    field.className = "num field";
    field.setAttribute("aria-describedby", `unusable-${name}`);
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = input.slider.min;
    slider.max = input.slider.max;
    slider.step = input.slider.step;
    slider.setAttribute("aria-label", name);
    field.value = numberText(input.value);
    slider.value = String(input.value);
    field.addEventListener("input", () => typed(name, field, slider));
    slider.addEventListener("input", () => {
      field.value = slider.value;
      delete state.unusable[name];
      markUsable(row, name);
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

// a number typed into an input's field: sent, or said to be unusable (the graph keeps the
// last number it was given, and the page says so, beside the field and on the drawing)
function typed(name, field, slider) {
  const text = field.value.trim();
  const number = Number(text);
  const row = field.closest(".input");
  if (text === "" || !Number.isFinite(number)) {
    const kind = text === "" ? "empty" : Number.isNaN(number) ? "not_number" : "too_large";
    state.unusable[name] = { kind, text };
    markUsable(row, name);
    const group = state.answer && $("drawing").querySelector(
      `g.edge[data-edge="${state.answer.inputs[name].edge}"]`);
    if (group) group.classList.add("held");
    return;
  }
  delete state.unusable[name];
  markUsable(row, name);
  if (number < Number(slider.min)) slider.min = String(number);
  if (number > Number(slider.max)) slider.max = String(number);
  slider.value = String(number);
  changeInput(name, number);
}

function markUsable(row, name) {
  const bad = state.unusable[name];
  const field = row.querySelector('input.field');
  const note = row.querySelector(".unusable");
  if (field) {
    field.classList.toggle("invalid", Boolean(bad));
    field.setAttribute("aria-invalid", String(Boolean(bad)));
  }
  note.hidden = !bad;
  note.dataset.kind = bad ? bad.kind : "";
  const used = numberText(state.values[name]);
  note.textContent = bad ? t(`field.${bad.kind}`, { name, text: bad.text, value: used }) : "";
  if (!bad && state.answer && state.answer.inputs[name]) {
    const group = $("drawing").querySelector(
      `g.edge[data-edge="${state.answer.inputs[name].edge}"]`);
    if (group) group.classList.remove("held");
  }
}

function updateInput(row, name, input, data) {
  row.querySelector(".input-gloss").textContent =
    data.source.name !== undefined && has(`input.${data.source.name}.${name}`)
      ? t(`input.${data.source.name}.${name}`) : "";
  const field = row.querySelector('input.field');
  if (field && document.activeElement !== field && !state.unusable[name]) {
    field.value = numberText(input.value);
  }
  const fixed = row.querySelector(".fixed-value");
  if (fixed) fixed.textContent = input.text;
  const label = row.querySelector(".grad-label");
  label.textContent = t("check.partial", { out: outName(data), x: varName(data, name) });
  label.title = t("check.backprop", { out: outName(data), x: varName(data, name) });
  row.querySelector(".backprop").textContent = input.grad_check_text || input.grad_text || "—";
  row.querySelector(".num-label").textContent = t("check.numerical_short");
  // no numerical derivative where there is none to compute (the reason says why)
  row.querySelector(".numerical").textContent =
    input.numerical === "NaN" && input.reason ? "—" : input.numerical_text || "—";
  const box = row.querySelector(".verdict");
  verdict(box, input);
  if (input.grad !== null && input.numerical === null) {
    box.textContent = t("check.on_click"); // an array: checked when its arrow is clicked
  }
  box.classList.toggle("note", input.agree === null || Boolean(input.reason));
  row.querySelector(".input-error").hidden = true;
  markUsable(row, name);
}

function verdict(box, check) {
  box.className = "verdict";
  box.removeAttribute("title");
  if (check.reason) { // no verdict: why the numerical derivative is none here
    box.classList.add("why");
    box.dataset.code = check.reason_code || "";
    box.textContent = (check.agree === null ? "" : (check.agree ? "✓ " : "✗ ")) +
      said(check.reason, check.reason_code, check.reason_params);
  } else if (check.agree === true) {
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
  else return; // the last node: the button stays where it is, and so does the focus
  renderSteps();
  announceStep();
  remember();
}

function renderSteps() {
  const data = state.answer;
  if (!data) return;
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
  // aria-disabled, not disabled: a button that is at its end keeps the focus
  disable($("step-forward"), mode === "forward" && pos >= order.length - 1);
  disable($("step-backward"), mode === "backward" && pos >= order.length - 1);
  disable($("step-reset"), mode === null);
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

function disable(button, off) {
  button.setAttribute("aria-disabled", String(off));
}

// the step now shown, told to a screen reader (a polite live region)
function announceStep() {
  const data = state.answer;
  const { mode, pos } = state.step;
  let text = t("step.idle");
  if (data && mode) {
    const order = data.order[mode];
    const node = data.nodes.find((n) => n.id === order[pos]);
    text = `${t(`step.${mode}_count`, { n: pos + 1, total: order.length })} ${nodeName(node)}`;
  }
  $("announce").textContent = text;
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
  item(t("check.grad"), "grad", c.grad_check_text || c.grad_text || "—");
  item(t("check.numerical"), "", c.numerical === "NaN" && c.reason ? "—"
    : c.numerical_text || "—");
  const v = document.createElement("div");
  verdict(v, c);
  if (c.why) v.textContent = t(`check.why.${c.why.replace(" ", "_")}`);
  if (c.agree !== null && c.max_rel_error !== undefined) {
    v.append(span("hint", " — " + t("check.rel_error", { err: fmt(c.max_rel_error) })));
  }
  const parts = [head, list, v];
  for (const key of ["value", "grad"]) {
    if (edge && edge[`${key}_origin`]) {
      const text = key === "value" ? edge.value_text : edge.grad_text;
      parts.push(hint(t(`origin.${key}`, { value: text, why: saidOrigin(edge, key) })));
    }
  }
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
  state.default = listing.default;
  buildPicker();
  const expression = $("expression");
  expression.addEventListener("input", () => typeExpression(expression.value));
  expression.addEventListener("keydown", (event) => {
    if (event.key === "Enter") typeExpression(expression.value, 0);
  });
  for (const [id, action] of [["step-forward", () => step("forward")],
                              ["step-backward", () => step("backward")],
                              ["step-reset", reset]]) {
    $(id).addEventListener("click", () => {
      if ($(id).getAttribute("aria-disabled") !== "true") action();
    });
  }
  $("fit").addEventListener("click", () => {
    state.fit = $("fit").getAttribute("aria-pressed") !== "true";
    fitDrawing();
  });
  $("drawing").addEventListener("scroll", fitDrawing, { passive: true });
  window.addEventListener("resize", fitDrawing);
  onLanguage(() => {
    markPicker();
    render();
    showNotes();
    if (state.answer) announceStep();
    if (state.refusal) refuse(state.refusal.data, state.refusal.body);
  });
  // the address: a query (/?graph=...) or the hash; edited later, it takes effect at once
  window.addEventListener("hashchange", () => openLink(location.hash));
  const link = location.search.length > 1 ? location.search : location.hash;
  openLink(link);
}

function reset() {
  state.step = { mode: null, pos: -1 };
  renderSteps();
  announceStep();
  remember();
}

main();
