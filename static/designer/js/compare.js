// Entry point of the comparison page (templates/admin/engine/designer_compare.html): the two versions side by
// side, read-only, with phases added (new side), removed (old side) and changed (both) highlighted, the
// changed fields per phase, and the RFC 6902 JSON Patch from old to new.

import { clear, h } from "./dom.js";
import { Canvas } from "./canvas.js";
import { Store } from "./store.js";

const config = JSON.parse(document.getElementById("pg-compare-config").textContent);
const diff = config.diff;
const added = new Set(diff.added);
const removed = new Set(diff.removed);
const changed = new Set(Object.keys(diff.changed));

function side(elementId, document, marks) {
  const store = new Store(document, { editable: false });
  const canvas = new Canvas(window.document.getElementById(elementId), store, {
    editable: false,
    // The designer's direction: the positions a person chose there (a phase's `ui`) assume it, and arrows
    // drawn top-to-bottom between boxes placed left-to-right run backwards through them.
    direction: "LR",
    classFor: (phase) => marks(phase.id) || "",
  });
  canvas.render();
  canvas.fit();
  return { store, canvas };
}

const old = side("pg-canvas-old", config.old.document, (id) => (removed.has(id) ? "pg-removed" : changed.has(id) ? "pg-changed" : ""));
const nu = side("pg-canvas-new", config.new.document, (id) => (added.has(id) ? "pg-added" : changed.has(id) ? "pg-changed" : ""));

/** Select the phase with `id` on both sides. */
function show(id) {
  for (const { store, canvas } of [old, nu]) {
    const phase = store.byId(id);
    store.select(phase ? { kind: "phase", phase } : null);
    if (phase) canvas.centerOn(phase);
  }
}

const summary = document.getElementById("pg-diff-summary");
clear(summary);
const list = (title, className, items) =>
  items.length
    ? h("div", { class: `pg-diff-group ${className}` }, h("h3", {}, title), h("ul", {}, ...items))
    : null;
const phaseLink = (id, extra) =>
  h("li", {}, h("button", { type: "button", class: "pg-link", "data-phase": id, onclick: () => show(id) }, id), extra ? ` — ${extra}` : "");
const groups = [
  list("Added phases", "pg-added", diff.added.map((id) => phaseLink(id))),
  list("Removed phases", "pg-removed", diff.removed.map((id) => phaseLink(id))),
  list("Changed phases", "pg-changed", Object.entries(diff.changed).map(([id, fields]) => phaseLink(id, fields.join(", ")))),
  list("Changed template fields", "", diff.top_level.map((name) => h("li", {}, h("code", {}, name)))),
].filter(Boolean);
summary.append(...(groups.length ? groups : [h("p", {}, "The two versions are the same.")]));
document.getElementById("pg-patch").textContent = JSON.stringify(diff.patch, null, 2);

window.pgCompare = { old, new: nu, diff };
document.documentElement.dataset.designerReady = "true";
