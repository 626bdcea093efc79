// The header every page shares: the project's name, the pages present, the language switch.
//
// mountHeader("graph") fills <header class="chrome"></header>; the pages come from
// GET /api/pages, so the network lab's link appears only where that page exists. Pages
// with a "group" (a chapter's: ch6, ch7) share one link, nav.<group>, to the group's first page;
// on a page of a group, a second row links the group's pages.

import { LANGUAGES, apply, language, onLanguage, setLanguage } from "./i18n.js";

const NAMES = { en: "English", ja: "日本語", zh: "简体中文", "zh-Hant": "繁體中文" }; // each in its own

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

async function pages(current) {
  try {
    const response = await fetch("/api/pages");
    if (response.ok) return (await response.json()).pages;
  } catch (e) {
    /* the header still works without the list */
  }
  return [{ id: current, path: location.pathname }];
}

export async function mountHeader(current) {
  const header = document.querySelector("header.chrome");
  const brand = el("a", { class: "brand", href: "/" }, [
    el("span", { class: "brand-name" }, ["chainrule"]),
    el("span", { class: "brand-tag", "data-i18n": "brand.tagline" }),
  ]);
  const nav = el("nav", { class: "pages", "data-i18n-aria-label": "nav.label" });
  const groups = {}; // a group's pages share one entry (its first page), nav.<group>
  for (const page of await pages(current)) {
    if (page.group && groups[page.group]) {
      groups[page.group].push(page);
      continue;
    }
    const id = page.group || page.id;
    if (page.group) groups[page.group] = [page];
    const link = el("a", { href: page.path, "data-i18n": `nav.${id}`, "data-page": id });
    nav.append(link);
  }
  const mine = Object.values(groups).find((g) => g.some((p) => p.id === current));
  const sub = el("nav", { class: "subpages", "data-i18n-aria-label": "nav.sublabel" });
  for (const page of mine || []) {  // the current group's pages, on a row of their own
    const link = el("a", { href: page.path, "data-i18n": `nav.${page.id}`, "data-page": page.id });
    if (page.id === current) link.setAttribute("aria-current", "page");
    sub.append(link);
  }
  const here = mine ? mine[0].group : current;
  for (const link of nav.children) {
    if (link.dataset.page === here) link.setAttribute("aria-current", "page");
  }
  const switcher = el("div", { class: "languages", role: "group",
                               "data-i18n-aria-label": "lang.label" });
  for (const lang of LANGUAGES) {
    const button = el("button", { type: "button", lang, "data-lang": lang }, [NAMES[lang]]);
    button.addEventListener("click", () => setLanguage(lang));
    switcher.append(button);
  }
  const mark = () => {
    for (const b of switcher.querySelectorAll("button")) {
      b.setAttribute("aria-pressed", String(b.dataset.lang === language()));
    }
  };
  onLanguage(mark);
  header.replaceChildren(brand, nav, switcher, ...(mine ? [sub] : []));
  apply(header);
  mark();
}
