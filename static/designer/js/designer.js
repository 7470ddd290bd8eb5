// Entry point of the designer page (templates/admin/engine/designer.html): wires the store, the canvas,
// the panels, the JSON view, live validation and the version controls together.

import { h } from "./dom.js";
import { Canvas, PHASE_MIME } from "./canvas.js";
import { targetPath } from "./fields.js";
import { JsonView } from "./json-view.js";
import { PhasePanel } from "./phase-panel.js";
import { ProblemList, Validator } from "./problems.js";
import { PHASE_TYPES, Store, parsePointer } from "./store.js";
import { TemplatePanel } from "./template-panel.js";
import { VersionControl } from "./versions.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("pg-designer-config").textContent);
const store = new Store(config.document, { editable: config.mode === "edit" });
store.problems = config.problems || [];
store.warnings = config.warnings || []; // e.g. a role nobody holds: publishing still works

const canvas = new Canvas($("pg-canvas"), store);
const phasePanel = new PhasePanel($("pg-phase-panel"), store, { activities: config.activities || [], templates: config.templates || [] });
const templatePanel = new TemplatePanel($("pg-template-panel"), store);
const jsonView = new JsonView($("pg-json"), $("pg-json-error"), store);

const tabs = [...document.querySelectorAll(".pg-tabs [data-tab]")];
function showTab(name) {
  for (const tab of tabs) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  for (const panel of document.querySelectorAll(".pg-side [data-panel]")) panel.hidden = panel.dataset.panel !== name;
  if (name === "json") jsonView.refresh();
}
for (const tab of tabs) tab.addEventListener("click", () => showTab(tab.dataset.tab));
store.addEventListener("select", () => {
  if (store.selection) showTab("phase");
});

/** Select what a problem is about and focus the field its pointer names. */
function locate(problem) {
  const path = targetPath(problem);
  const parts = parsePointer(path);
  const phase = parts[0] === "phases" && /^\d+$/.test(parts[1] || "") ? store.phaseAt(Number(parts[1])) : null;
  if (phase) {
    store.select({ kind: "phase", phase });
    showTab("phase");
    canvas.centerOn(phase);
    phasePanel.focus(path);
  } else {
    store.select(null);
    showTab("template");
    templatePanel.focus(path);
  }
}
new ProblemList($("pg-problem-list"), $("pg-problem-count"), store, locate);

const versions = new VersionControl(
  store,
  config,
  {
    status: $("pg-status"),
    title: $("pg-title"),
    state: $("pg-state"),
    save: $("pg-save"),
    publish: $("pg-publish"),
    editDraft: $("pg-edit-draft"),
    download: $("pg-download"),
    openFile: $("pg-open-file"),
    panel: $("pg-versions-panel"),
  },
  { onLoaded: () => canvas.fit() },
);
if (store.editable) {
  new Validator(store, config.urls.validate, { onError: (message) => versions.status(message, "error") });
}

// The palette: click adds a phase (laid out automatically), dragging onto the canvas drops it there.
const palette = $("pg-palette-items");
if (store.editable) {
  for (const spec of PHASE_TYPES) {
    const item = h(
      "button",
      {
        type: "button",
        class: `pg-palette-item pg-type-${spec.type}`,
        draggable: "true",
        "data-type": spec.type,
        title: spec.hint,
        onclick: () => {
          const phase = store.addPhase(spec.type);
          canvas.centerOn(phase);
        },
        ondragstart: (event) => {
          event.dataTransfer.setData(PHASE_MIME, spec.type);
          event.dataTransfer.effectAllowed = "copy";
        },
      },
      h("span", { class: "pg-palette-swatch" }),
      spec.label,
    );
    palette.append(item);
  }
}

$("pg-zoom-in").addEventListener("click", () => canvas.zoomAt(1.25));
$("pg-zoom-out").addEventListener("click", () => canvas.zoomAt(1 / 1.25));
$("pg-fit").addEventListener("click", () => canvas.fit());
$("pg-relayout").addEventListener("click", () => {
  store.forgetPositions();
  canvas.fit();
});
$("pg-delete").addEventListener("click", () => store.deleteSelection());

canvas.render();
canvas.fit();
phasePanel.render();
templatePanel.render();
store.emit("problems");
showTab(config.template ? "phase" : "template");

// For tests and the browser console; not an API.
window.pgDesigner = { store, canvas, versions };
document.documentElement.dataset.designerReady = "true";
