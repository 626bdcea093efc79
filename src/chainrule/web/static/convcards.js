// The convnet lab's filter cards and the enlarged view of one filter. P is the answer of
// POST /api/conv/probe (chainrule.nn.conv_probe through chainrule.web.convlab_answers):
// every number is the server's; this module draws them.

import { t } from "./i18n.js";
import { $, el, fmtNum, largest } from "./labkit.js";
import { argCell, cellAt, mapCanvas, scaled } from "./maps.js";

const TOP = 5; // the strongest responses get a badge

function scales(P) {
  const all = (key) => largest(P[key].flat());
  return { relu: all("relu"), pooled: all("pooled"), conv: all("conv"), grad_pooled: all("grad_pooled"),
           grad_relu: all("grad_relu"), grad_conv: all("grad_conv") };
}

// each pooling window's maximum; faint where the window holds no positive number (ReLU made
// it all zeros: its first cell counts as the maximum, and ReLU's backward stops what it gets)
function marksOf(P, f) {
  const [ph, pw] = P.pooled_shape;
  const out = [];
  for (let i = 0; i < ph; i++) for (let j = 0; j < pw; j++) {
    const k = i * pw + j;
    out.push([...argCell(i, j, P.pool_arg[f][k], P.pool), !(P.pooled[f][k] > 0)]);
  }
  return out;
}

// the grid of cards, one per filter, in `order`; view "forward" or "backward"
export function renderCards(box, P, { view, byResponse, onOpen }) {
  box.replaceChildren();
  if (!P) return;
  const S = scales(P);
  const [c, fh, fw] = P.filter_shape, [oh, ow] = P.map_shape, [ph, pw] = P.pooled_shape;
  const rank = new Map(P.order.map((f, k) => [f, k]));
  const order = byResponse ? P.order : P.order.map((_, f) => f);
  for (const f of order) {
    const pics = view === "forward" ? [
      mapCanvas(P.filters[f], c * fh, fw, { kind: "gray", px: 8 }),
      mapCanvas(P.relu[f], oh, ow, { kind: "positive", scale: S.relu, px: 3 }),
      mapCanvas(P.pooled[f], ph, pw, { kind: "positive", scale: S.pooled, px: 3 }),
    ] : [
      mapCanvas(P.grad_pooled[f], ph, pw, { kind: "grad", scale: S.grad_pooled, px: 3 }),
      mapCanvas(P.grad_relu[f], oh, ow, { kind: "grad", scale: S.grad_relu, px: 3 }),
      mapCanvas(P.grad_conv[f], oh, ow, { kind: "grad", scale: S.grad_conv, px: 3 }),
    ];
    pics[0].classList.add(view === "forward" ? "filter" : "small");
    pics[1].classList.add("big");
    pics[2].classList.add(view === "forward" ? "small" : "big");
    const strong = rank.get(f) < TOP && P.response[f] > 0;
    const figure = view === "forward" ? t("maps.response", { v: fmtNum(P.response[f]) })
      : t("maps.gradNorm", { v: fmtNum(P.grad_norm[f]) });
    const card = el("button", { type: "button", class: "card" + (strong ? " strong" : ""), "data-filter": f,
                                "data-rank": rank.get(f), title: t("maps.open", { f }) },
      el("span", { class: "pics" }, ...pics),
      el("span", { class: "cap" }, el("b", { text: `#${f}` }), el("span", { class: "fig", text: figure }),
         strong ? el("span", { class: "badge", text: t("maps.rank", { k: rank.get(f) + 1 }) }) : null));
    card.addEventListener("click", () => onOpen(f));
    box.append(card);
  }
}

// ------------------------------------------------------------------ one filter, enlarged

// a table of numbers, h rows of w; kind "value" or "grad" colours the signs as the maps do
function numbers(values, h, w, { cls = "", kind = "value" } = {}) {
  const [texts, k] = scaled(values);
  const table = el("table", { class: `nums ${kind} ${cls}` });
  if (k) table.append(el("caption", { text: t("detail.times", { e: k }) }));
  for (let i = 0; i < h; i++) {
    const tr = el("tr");
    for (let j = 0; j < w; j++) {
      const v = values[i * w + j];
      tr.append(el("td", { class: v > 0 ? "pos" : v < 0 ? "neg" : "", "data-i": i, "data-j": j,
                           "data-v": v }, texts[i * w + j]));
    }
    table.append(tr);
  }
  return table;
}

function block(title, ...kids) {
  return el("figure", { class: "block" }, el("figcaption", { text: title }), ...kids);
}

// a map that says its number under the pointer
function hoverable(canvas, values, h, w, name) {
  canvas.addEventListener("pointermove", (e) => {
    const at = cellAt(canvas, e, h, w);
    $("#readout").textContent = at ? t("detail.readout", { name, i: at[0], j: at[1], v: fmtNum(values[at[0] * w + at[1]]) }) : "";
  });
  return canvas;
}

export function renderDetail(P, f, view) {
  const [c, fh, fw] = P.filter_shape, [oh, ow] = P.map_shape, [ph, pw] = P.pooled_shape;
  const body = $("#detail-body");
  body.replaceChildren();
  $("#detail-title").textContent = t("detail.title", { f, n: P.filters.length });
  $("#detail-explain").textContent = t(view === "forward" ? "detail.forward" : "detail.backward",
                                       { f, k: P.class_names[P.target], ph: P.pool[0], pw: P.pool[1] });
  const marks = marksOf(P, f);
  const big = 10;
  if (view === "forward") {
    const w = el("div", { class: "filter-view" },
      hoverable(mapCanvas(P.filters[f], c * fh, fw, { kind: "gray", px: 24 }), P.filters[f], c * fh, fw, t("detail.w", { f })),
      numbers(P.filters[f], c * fh, fw, { cls: "weights" }),
      el("p", { class: "bias", text: t("detail.bias", { f, v: fmtNum(P.bias[f]) }) }));
    body.append(
      block(t("detail.filter", { f }), w),
      block(t("detail.conv"), hoverable(mapCanvas(P.conv[f], oh, ow, { kind: "value", px: big }), P.conv[f], oh, ow, t("detail.conv"))),
      block(t("detail.relu"), hoverable(mapCanvas(P.relu[f], oh, ow, { kind: "positive", px: big, grid: P.pool[2], marks }),
                                        P.relu[f], oh, ow, t("detail.relu"))),
      block(t("detail.pooled", { ph, pw }), hoverable(mapCanvas(P.pooled[f], ph, pw, { kind: "positive", px: 2 * big }),
                                                      P.pooled[f], ph, pw, t("detail.pooledName")),
            numbers(P.pooled[f], ph, pw, { cls: "pooled" })));
  } else {
    body.append(
      block(t("detail.gradPooled", { ph, pw }), hoverable(mapCanvas(P.grad_pooled[f], ph, pw, { kind: "grad", px: 2 * big }),
                                                          P.grad_pooled[f], ph, pw, t("detail.gradPooledName")),
            numbers(P.grad_pooled[f], ph, pw, { cls: "grad-pooled", kind: "grad" })),
      block(t("detail.gradRelu"), hoverable(mapCanvas(P.grad_relu[f], oh, ow, { kind: "grad", px: big, grid: P.pool[2], marks }),
                                            P.grad_relu[f], oh, ow, t("detail.gradReluName"))),
      block(t("detail.gradConv"), hoverable(mapCanvas(P.grad_conv[f], oh, ow, { kind: "grad", px: big }),
                                            P.grad_conv[f], oh, ow, t("detail.gradConvName"))));
  }
  $("#readout").textContent = "";
}
