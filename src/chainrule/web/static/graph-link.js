// The graph lab's address: what you see, as a link.
//
//   /#graph=apple-orange&apple=150&step=backward:2&edge=3
//   /#expr=x%20*%20log(x)&x=0.5
//
// graph=NAME (a built-in graph) or expr=TEXT (an expression); then one NAME=NUMBER per
// input (for a built-in graph only those that differ from its defaults; an input named
// like a key below is written in.NAME=NUMBER); step=forward:N or step=backward:N (the
// N-th node of that walk, from 1, as the stepper counts); edge=ID (the arrow checked in
// full). Parts are separated by "&" and percent-encoded; a "+" is a plus, not a space,
// so a hand-written #expr=x+y works. The same may be given as a query (/?graph=...):
// the page moves it into the hash, which it keeps current as you go (without adding to
// the history), and reads again whenever it changes (hashchange): no reload.

export const KEYS = ["graph", "expr", "step", "edge"];
const PREFIX = "in.";

// "graph=a&apple=150" -> {graph: "a", inputs: {apple: "150"}, ...}, the values as text
export function parseLink(text) {
  const link = { graph: null, expr: null, step: null, edge: null, inputs: {}, bad: [] };
  for (const part of String(text).replace(/^[#?]/, "").split("&")) {
    if (!part) continue;
    const at = part.indexOf("=");
    const key = decode(at < 0 ? part : part.slice(0, at));
    const value = at < 0 ? "" : decode(part.slice(at + 1));
    if (key === null || value === null) {
      link.bad.push(part);
    } else if (KEYS.includes(key)) {
      link[key] = value;
    } else if (key.startsWith(PREFIX)) {
      link.inputs[key.slice(PREFIX.length)] = value;
    } else {
      link.inputs[key] = value;
    }
  }
  return link;
}

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch (e) {
    return null; // a stray "%": not a part of the link
  }
}

// "backward:2" -> {mode: "backward", n: 2}; null for anything else
export function parseStep(text) {
  const m = /^(forward|backward):([1-9][0-9]{0,5})$/.exec(String(text || ""));
  return m ? { mode: m[1], n: Number(m[2]) } : null;
}

// the link of what the page shows (source: {name} or {expression}; inputs: name -> number)
export function linkText({ source, inputs, defaults, step, edge }) {
  const parts = [];
  const put = (key, value) => parts.push(`${encode(key)}=${encode(value)}`);
  if (source.name !== undefined) put("graph", source.name);
  else put("expr", source.expression);
  for (const [name, value] of Object.entries(inputs)) {
    if (defaults && defaults[name] === value) continue;
    const text = Object.is(value, -0) ? "-0" : String(value); // -0 stays -0
    put(KEYS.includes(name) || name.startsWith(PREFIX) ? PREFIX + name : name, text);
  }
  if (step && step.mode) put("step", `${step.mode}:${step.pos + 1}`);
  if (edge !== null && edge !== undefined) put("edge", String(edge));
  return parts.join("&");
}

// percent-encoding that leaves the characters of arithmetic readable
function encode(text) {
  return encodeURIComponent(text).replace(/%2F/g, "/").replace(/%2C/g, ",").replace(/%2B/g, "+")
    .replace(/%3A/g, ":");
}
