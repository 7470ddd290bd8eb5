// Live validation and the problem list.
//
// Every change is sent (debounced) to the server's validation endpoint, which runs the engine's own
// validation; answers that arrive after a newer request was sent are dropped. Each problem is listed with
// its JSON pointer; clicking it selects the box (or the template panel) and focuses the field it names.

import { clear, debounce, h, setText } from "./dom.js";
import { postJson } from "./api.js";
import { parsePointer } from "./store.js";

export class Validator {
  constructor(store, url, { onError } = {}) {
    this.store = store;
    this.url = url;
    this.onError = onError || (() => {});
    this.sequence = 0;
    this.schedule = debounce(() => this.run(), 350);
    store.addEventListener("change", () => this.schedule());
  }

  async run() {
    const mine = ++this.sequence;
    let text;
    try {
      text = JSON.stringify(this.store.doc);
    } catch (exc) {
      this.onError(`Cannot validate: ${exc.message}`);
      return;
    }
    const { ok, status, body } = await postJson(this.url, text, { raw: true });
    if (mine !== this.sequence) return; // a newer request is on its way
    if (ok || body?.problems) {
      this.store.warnings = body.warnings || [];
      this.store.setProblems(body.problems || []);
    }
    else this.onError(`Validation failed (HTTP ${status}).`);
  }
}

export class ProblemList {
  /** `locate(problem)` selects what the problem is about. */
  constructor(listEl, countEl, store, locate) {
    this.listEl = listEl;
    this.countEl = countEl;
    this.store = store;
    this.locate = locate;
    store.addEventListener("problems", () => this.render());
  }

  render() {
    const problems = this.store.problems;
    clear(this.listEl);
    setText(this.countEl, problems.length);
    this.countEl.classList.toggle("pg-count-bad", problems.length > 0);
    for (const warning of this.store.warnings || []) {
      this.listEl.append(
        h(
          "li",
          { class: "pg-warning", "data-code": warning.code || "" },
          h("span", { class: "pg-problem-code" }, "warning"),
          h("span", { class: "pg-problem-message" }, warning.message || ""),
        ),
      );
    }
    if (!problems.length) {
      this.listEl.append(h("li", { class: "pg-ok" }, "No problems: this template is valid."));
      return;
    }
    for (const problem of problems) {
      const where = describe(this.store, problem.path || "");
      this.listEl.append(
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "pg-problem",
              "data-path": problem.path || "",
              "data-code": problem.code || "",
              onclick: () => this.locate(problem),
            },
            h("span", { class: "pg-problem-where" }, where),
            h("code", { class: "pg-problem-path" }, problem.path || "/"),
            h("span", { class: "pg-problem-code" }, problem.code || ""),
            h("span", { class: "pg-problem-message" }, problem.message || ""),
          ),
        ),
      );
    }
  }
}

/** "phase planning" or "template" for a pointer. */
export function describe(store, path) {
  const parts = parsePointer(path);
  if (parts[0] === "phases" && /^\d+$/.test(parts[1] || "")) {
    const phase = store.phaseAt(Number(parts[1]));
    return phase && typeof phase.id === "string" ? `phase ${phase.id}` : `phase #${Number(parts[1]) + 1}`;
  }
  return "template";
}
