// The JSON view: the document as text, editable. A change made here replaces the designer's document as soon
// as the text parses; a change made anywhere else rewrites the text (when the view is visible, else when it
// is next shown). JSON.parse(JSON.stringify(doc)) is the document itself, so the round trip changes nothing.

import { debounce } from "./dom.js";

export class JsonView {
  constructor(area, errorEl, store) {
    this.area = area;
    this.errorEl = errorEl;
    this.store = store;
    this.stale = true;
    area.readOnly = !store.editable;
    const apply = debounce(() => this.apply(), 300);
    area.addEventListener("input", () => apply());
    area.addEventListener("blur", () => apply.flush());
    store.addEventListener("change", (event) => {
      if (event.detail.source === "json") return;
      this.stale = true;
      if (this.visible) this.refresh();
    });
  }

  get visible() {
    return this.area.offsetParent !== null;
  }

  refresh() {
    if (!this.stale) return;
    this.area.value = JSON.stringify(this.store.doc, null, 2);
    this.errorEl.hidden = true;
    this.stale = false;
  }

  apply() {
    if (!this.store.editable) return;
    let parsed;
    try {
      parsed = JSON.parse(this.area.value);
    } catch (exc) {
      this.errorEl.textContent = `Not valid JSON (the canvas keeps the last valid document): ${exc.message}`;
      this.errorEl.hidden = false;
      return;
    }
    this.errorEl.hidden = true;
    if (JSON.stringify(parsed) === JSON.stringify(this.store.doc)) return;
    this.store.replace(parsed, "json");
  }
}
