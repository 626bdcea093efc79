// The network lab's view of a convolutional network's layers: a layer whose numbers come
// with a 3-D shape (channels, height, width) is drawn as small maps, one per channel (the
// first few; all of them on request), instead of one square or bar per number. net.js
// calls channelMaps() for such a layer; the numbers are the server's (chainrule.nn.probe).

import { t } from "./i18n.js";
import { el, fmtNum, largest } from "./labkit.js";
import { mapCanvas } from "./maps.js";

const FIRST = 6; // channels shown before "all"
const opened = new Set(); // the layers (by where + name) whose every channel is shown

// the maps of one layer: layer = {layer, shape: [C, H, W], values or grad}; where is
// "hidden" (activations after ReLU) or "grad" (a gradient: blue negative, red positive)
export function channelMaps(layer, where, onToggle = () => {}) {
  const [c, h, w] = layer.shape, values = (where === "hidden" ? layer.values : layer.grad).map((v) => v ?? 0);
  const key = `${where}:${layer.layer}`, all = opened.has(key);
  const scale = largest(values);
  const px = Math.max(1, Math.round(48 / Math.max(h, w)));
  const maps = el("div", { class: "channel-maps" + (where === "grad" ? " small" : "") });
  const shown = all ? c : Math.min(c, where === "grad" ? 4 : FIRST);
  for (let k = 0; k < shown; k++) {
    const part = values.slice(k * h * w, (k + 1) * h * w);
    const canvas = mapCanvas(part, h, w, { kind: where === "hidden" ? "positive" : "grad", scale, px });
    canvas.title = t("conv.channel", { k, max: fmtNum(largest(part, 0)) });
    maps.append(el("figure", { class: "channel" }, canvas, el("figcaption", { text: String(k) })));
  }
  const box = el("div", { class: "channel-layer", "data-layer": layer.layer, "data-shape": layer.shape.join("x") });
  if (where === "hidden") {
    const active = values.filter((v) => v > 0).length;
    box.append(el("div", { class: "cap", text: t("conv.hidden", {
      layer: layer.layer, c, h, w, active, n: values.length, max: fmtNum(scale) }) }));
  }
  box.append(maps);
  if (c > FIRST || (where === "grad" && c > 4)) {
    const more = el("button", { type: "button", class: "button more", "aria-expanded": String(all),
                                text: all ? t("conv.fewer") : t("conv.all", { c }) });
    more.addEventListener("click", () => {
      if (opened.has(key)) opened.delete(key); else opened.add(key);
      onToggle();
    });
    box.append(more);
  }
  return box;
}

// whether a layer's numbers are channels of maps
export const isMaps = (layer) => Array.isArray(layer.shape) && layer.shape.length === 3;
