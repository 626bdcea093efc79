// The lab's words in English, Japanese and Simplified Chinese.
//
// Strings live in i18n/<part>.<lang>.json ("common" for the header, one file per page).
// await setup("graph") picks the language (the switch's last choice, else the browser's),
// loads the files and fills every element with data-i18n="key" (its text),
// data-i18n-placeholder, data-i18n-title or data-i18n-aria-label. t(key, {name: ...})
// gives one string with {name} filled in; onLanguage(fn) is told of every switch.

export const LANGUAGES = ["en", "ja", "zh"];
const HTML_LANG = { en: "en", ja: "ja", zh: "zh-Hans" };
const STORE = "chainrule.lang";

let parts = ["common"];
let current = "en";
let words = {};
let english = {};
const listeners = [];

export function language() {
  return current;
}

export function pickLanguage() {
  try {
    const stored = localStorage.getItem(STORE);
    if (LANGUAGES.includes(stored)) return stored;
  } catch (e) {
    /* storage may be off: fall through */
  }
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

async function load(lang) {
  const out = {};
  for (const part of parts) {
    const response = await fetch(`/static/i18n/${part}.${lang}.json`);
    if (!response.ok) throw new Error(`missing i18n/${part}.${lang}.json`);
    Object.assign(out, await response.json());
  }
  return out;
}

export function t(key, vars = {}) {
  let text = words[key] ?? english[key] ?? key;
  for (const [name, value] of Object.entries(vars)) {
    text = text.split(`{${name}}`).join(String(value));
  }
  return text;
}

export function has(key) {
  return key in words || key in english;
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
