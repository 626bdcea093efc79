// The address shares what the page shows: /net#run=ID&sample=N names the network in use
// ("first", or a run trained on this page) and the test image on the pad. Opening such
// a link restores them; editing the address changes them at once (a hash change, no
// reload). /net?run=ID&sample=N is read the same way when the page opens. A drawing is
// not in the address: drawing on the pad takes the sample out of it.

import {
  api, dropNotes, setNote, state,
} from "./net_kit.js";

let page = null;
let following = false; // while a link is being followed, the address is left as it is
let followed = false; // nor is it written before the address the page opened with is read

export function setupLink(pageHooks) {
  page = pageHooks;
  window.addEventListener("hashchange", () => followLink());
}

function readLink() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const get = (k) => (hash.has(k) ? hash.get(k) : query.get(k));
  return { run: get("run") || null, sample: get("sample") };
}

// The address for what the page shows now (replaced, not pushed: the back button leaves
// the page instead of stepping through every sample).
export function writeLink() {
  if (following || !followed || !page) return;
  const p = new URLSearchParams();
  if (state.model) p.set("run", state.model.id);
  if (state.sample && !page.strokes()) p.set("sample", String(state.sample.index));
  const url = location.pathname + (p.toString() ? `#${p}` : "");
  if (location.pathname + location.search + location.hash !== url) history.replaceState(null, "", url);
}

// Show what the address asks for; what cannot be shown is said in a note at the top.
export async function followLink() {
  if (!state.model || following) return; // the model is not ready: called again when it is
  const link = readLink();
  following = true;
  dropNotes("link");
  try {
    if (link.run && link.run !== state.model.id) {
      try {
        await api("POST", "/api/model", { run: link.run });
        await page.refreshLab();
      } catch (err) {
        setNote("link-note", { key: "link.run", vars: { run: link.run },
                               body: err.data || { error: err.message }, about: "link" });
      }
    }
    if (link.sample != null) {
      if (page.strokes() || !state.sample || String(state.sample.index) !== link.sample) {
        await page.showSample(link.sample, (body) => setNote("link-note", {
          key: "link.sample", vars: { index: link.sample }, body, about: "link" }));
      }
    } else if (state.sample && !page.strokes()) {
      state.sample = null; // the sample taken out of the address: off the pad
      page.afterEdit();
    }
  } finally {
    following = false;
    followed = true;
  }
  writeLink();
}
