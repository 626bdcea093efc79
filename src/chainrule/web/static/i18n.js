// The lab's words in English, Japanese, Simplified and Traditional Chinese.
//
// Strings live in i18n/<part>.<lang>.json ("common" for the header, one file per page).
// await setup("graph") picks the language (the switch's last choice, else the browser's),
// loads the files and fills every element with data-i18n="key" (its text),
// data-i18n-placeholder, data-i18n-title or data-i18n-aria-label. t(key, {name: ...})
// gives one string with {name} filled in; onLanguage(fn) is told of every switch.
//
// What the server words (errors, rule lines, notes at the end of a run) comes as a
// message: the English text with a code and its params. message(body) for an error
// body ({error, code, params}) and said(text, code, params) for a text in an answer
// word it in the page's language from i18n/messages.<lang>.json ("msg.<code>"), and
// fall back to the server's English where a language has no words for the code.

export const LANGUAGES = ["en", "ja", "zh", "zh-Hant"];
const HTML_LANG = { en: "en", ja: "ja", zh: "zh-Hans", "zh-Hant": "zh-Hant" };
const TRADITIONAL = ["tw", "hk", "mo", "hant"]; // zh-TW, zh-HK, zh-MO, zh-Hant-*
const STORE = "chainrule.lang";
const MESSAGES = "messages"; // the part with the server's codes, msg.<code> (not for en)
const TERMS = ["field", "kind", "status"]; // params naming a field, a JSON type, a status

let parts = ["common"];
let current = "en";
let words = {};
let english = {};
const listeners = [];

export function language() {
  return current;
}

// "zh-TW" -> "zh-Hant", "zh-CN" -> "zh", "ja-JP" -> "ja"; null for a language not offered
export function languageOf(tag) {
  const subtags = String(tag).toLowerCase().split(/[-_]/);
  if (subtags[0] === "zh") {
    return subtags.slice(1).some((s) => TRADITIONAL.includes(s)) ? "zh-Hant" : "zh";
  }
  return LANGUAGES.includes(subtags[0]) ? subtags[0] : null;
}

export function pickLanguage() {
  try {
    const stored = localStorage.getItem(STORE);
    if (LANGUAGES.includes(stored)) return stored;
  } catch (e) {
    /* storage may be off: fall through */
  }
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const lang = languageOf(tag);
    if (lang) return lang;
  }
  return "en";
}

async function load(lang) {
  const out = {};
  for (const part of lang === "en" ? parts : [...parts, MESSAGES]) {
    const response = await fetch(`/static/i18n/${part}.${lang}.json`);
    if (!response.ok) throw new Error(`missing i18n/${part}.${lang}.json`);
    Object.assign(out, await response.json());
  }
  return out;
}

// a value as the page's words show it: a list joined the language's way, control
// characters visible; a param in TERMS (a field, a JSON type, a run's status) by its
// term, msg.term.<value>, where the language has one
function shown(value, name) {
  if (Array.isArray(value)) {
    return value.map((v) => shown(v, name)).join(words["list.separator"] ?? ", ");
  }
  if (typeof value !== "string") return String(value);
  if (TERMS.includes(name) && `msg.term.${value}` in words) return words[`msg.term.${value}`];
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f]/g,
                       (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function t(key, vars = {}) {
  let text = words[key] ?? english[key] ?? key;
  for (const [name, value] of Object.entries(vars)) {
    text = text.split(`{${name}}`).join(shown(value, name));
  }
  return text;
}

export function has(key) {
  return key in words || key in english;
}

// A text the server sent with its code and params, in the page's language.
export function said(text, code, params) {
  if (code && current !== "en" && `msg.${code}` in words) return t(`msg.${code}`, params || {});
  return text ?? "";
}

// An error body {error, code, params} in the page's language (fallback: its English).
export function message(body, fallback = "") {
  if (!body) return fallback;
  return said(body.error, body.code, body.params) || fallback;
}

export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["placeholder", "title", "aria-label"]) {
    const data = "i18n" + attr.split("-").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, t(el.dataset[data]));
    }
  }
}

export function onLanguage(fn) {
  listeners.push(fn);
}

export async function setLanguage(lang, remember = true) {
  if (!LANGUAGES.includes(lang)) lang = "en";
  words = lang === "en" ? english : await load(lang);
  current = lang;
  document.documentElement.lang = HTML_LANG[lang];
  if (remember) {
    try {
      localStorage.setItem(STORE, lang);
    } catch (e) {
      /* not remembered: fine */
    }
  }
  apply();
  for (const fn of listeners) fn(lang);
}

export async function setup(page) {
  parts = ["common", page];
  english = await load("en");
  await setLanguage(pickLanguage(), false);
}
