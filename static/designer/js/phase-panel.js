// The property panel of the selected phase: every field of TEMPLATE_FORMAT.md for the phase's type.

import { clear, h } from "./dom.js";
import {
  boolField,
  chipsField,
  durationField,
  exprField,
  exprMap,
  group,
  jsonField,
  markProblems,
  numberField,
  retryGroup,
  selectField,
  slaGroup,
  textField,
  focusField,
} from "./fields.js";
import { PHASE_TYPES, binding, isObject, parsePointer, pointer } from "./store.js";

const ON_FAIL = [
  { value: "fail", label: "fail: dead-letter the phase and fail the instance" },
  { value: "suspend", label: "suspend: the instance waits for a person" },
  { value: "continue", label: "continue: as if the phase were skipped" },
];

const ERROR_CATEGORIES = ["transient", "rate_limit", "data", "system", "gate", "child", "any"];

export class PhasePanel {
  constructor(root, store, { activities, templates = [] }) {
    this.root = root;
    this.store = store;
    this.activities = activities;
    this.templates = templates;
    this.modes = new WeakMap(); // the gate/wait mode picked before its field has a value
    store.addEventListener("select", () => this.render());
    store.addEventListener("change", (event) => {
      if (!["panel", "move"].includes(event.detail.source)) this.render();
    });
    store.addEventListener("problems", () => this.mark());
  }

  get ctx() {
    return { editable: this.store.editable, changed: (structural = false) => this.store.changed("panel", structural) };
  }

  render() {
    clear(this.root);
    const sel = this.store.selection;
    if (sel?.kind === "edge") {
      this.renderEdge(sel);
      return;
    }
    const phase = this.store.selectedPhase();
    if (!phase) {
      this.root.append(
        h("p", { class: "pg-hint" }, this.store.editable
          ? "Select a box to edit its phase, or add one from the palette."
          : "Select a box to see its phase."),
      );
      return;
    }
    const index = this.store.indexOf(phase);
    const base = pointer("phases", index);
    const b = (...keys) => binding(phase, keys, base);
    const ctx = this.ctx;
    const otherIds = () => this.store.ids().filter((id) => id !== phase.id);
    const form = h(
      "div",
      { class: "pg-phase-form", "data-path": base },
      h("div", { class: "pg-problem-slot" }),
      textField(ctx, "Id", b("id"), {
        className: "pg-code",
        code: true,
        commit: "change",
        help: "Lowercase letters, digits and _; references to it follow a rename.",
        onCommit: (value) => this.store.renameId(phase, value),
      }),
      selectField(ctx, "Type", b("type"), PHASE_TYPES.map((t) => ({ value: t.type, label: `${t.label}: ${t.hint}` })), {
        empty: false,
        onSelect: (value) => {
          phase.type = value;
          this.store.changed("panel", true);
          this.render();
        },
      }),
      textField(ctx, "Name", b("name")),
      textField(ctx, "Description", b("description"), { multiline: true, rows: 2 }),
      chipsField(ctx, "Depends on", b("depends_on"), {
        options: otherIds,
        structural: true,
        help: "Phases that must finish first; or drag an arrow on the canvas.",
      }),
      ...this.typeFields(phase, b, ctx, otherIds),
    );
    if (!ctx.editable) for (const fieldset of form.querySelectorAll("fieldset")) fieldset.disabled = true;
    this.root.append(form);
    this.mark();
  }

  typeFields(phase, b, ctx, otherIds) {
    const roles = () => this.store.roleKeys();
    switch (phase.type) {
      case "human":
        return [
          chipsField(ctx, "Roles", b("roles"), { options: roles, help: "Chosen among the template's roles (Template tab)." }),
          slaGroup(ctx, b("sla"), roles),
          chipsField(ctx, "Outcomes", b("outcomes"), {
            free: true,
            placeholder: "e.g. approved",
            help: "What a person may answer; \"done\" when none are listed.",
            onAdd: () => this.render(),
          }),
          this.onOutcome(phase, b, ctx, otherIds),
          jsonField(ctx, "Form (JSON Schema)", b("form"), { rows: 8, help: "The data the person submits." }),
          this.compensateGroup(ctx, b),
        ];
      case "task":
        return [
          this.activityField(ctx, b("activity")),
          exprMap(ctx, "Input", b("input"), { addLabel: "Add input", help: "Each value is a CEL expression." }),
          retryGroup(ctx, b("retry")),
          durationField(ctx, "Timeout", b("timeout")),
          durationField(ctx, "Heartbeat", b("heartbeat")),
          textField(ctx, "Queue", b("queue"), { className: "pg-code" }),
          ...this.failureFields(phase, b, ctx, ON_FAIL),
          this.compensateGroup(ctx, b),
        ];
      case "gate":
        return this.gateFields(phase, b, ctx);
      case "choice":
        return this.choiceFields(phase, b, ctx, otherIds);
      case "map":
        return [
          exprField(ctx, "Items", b("items"), { placeholder: "CEL giving a list, e.g. steps.validate.output.symbols" }),
          ...this.mapBodyFields(phase, b, ctx),
          exprMap(ctx, "Input", b("input"), { addLabel: "Add input", help: "CEL; `item` and `index` name the current item." }),
          numberField(ctx, "Max concurrency", b("max_concurrency"), { integer: true, min: 1, max: 10000 }),
          numberField(ctx, "Tolerated failure", b("tolerated_failure"), { min: 0, max: 1, step: 0.05, help: "Fraction of items that may fail (0–1)." }),
          retryGroup(ctx, b("retry")),
          durationField(ctx, "Timeout", b("timeout")),
          durationField(ctx, "Heartbeat", b("heartbeat")),
          textField(ctx, "Queue", b("queue"), { className: "pg-code" }),
          ...this.failureFields(phase, b, ctx, ON_FAIL),
          this.compensateGroup(ctx, b),
        ];
      case "wait":
        return this.waitFields(phase, b, ctx);
      case "subworkflow":
        return [
          ...this.templateFields(phase, b, ctx),
          exprMap(ctx, "Input (the child's params)", b("input"), { addLabel: "Add param", help: "Each value is CEL over this instance's data." }),
          exprField(ctx, "Business key", b("business_key"), {
            placeholder: "CEL; default: this instance's key + '/' + the phase id",
          }),
          retryGroup(ctx, b("retry"), "Retry (a retry starts a new child)"),
          durationField(ctx, "Timeout", b("timeout")),
          ...this.failureFields(phase, b, ctx, ON_FAIL),
          this.compensateGroup(ctx, b),
        ];
      default:
        return [h("p", { class: "pg-hint" }, "Choose a type to see its fields.")];
    }
  }

  activityField(ctx, b) {
    // The activity's description and, when it registered them, the fields of its input and output schemas.
    const fields = (schema) =>
      schema && isObject(schema.properties)
        ? Object.keys(schema.properties)
            .map((key) => ((schema.required || []).includes(key) ? `${key} (required)` : key))
            .join(", ")
        : "";
    const describe = (name) => {
      const found = this.activities.find((a) => a.name === name);
      if (!found) return "";
      const parts = [found.description];
      if (fields(found.input_schema)) parts.push(`Input: ${fields(found.input_schema)}.`);
      if (fields(found.output_schema)) parts.push(`Output: ${fields(found.output_schema)}.`);
      return parts.filter(Boolean).join(" ");
    };
    return selectField(ctx, "Activity", b, this.activities.map((a) => ({ value: a.name, label: a.name })), {
      empty: "(choose an activity)",
      describe,
    });
  }

  onOutcome(phase, b, ctx, otherIds) {
    const outcomes = Array.isArray(phase.outcomes) && phase.outcomes.length ? [...phase.outcomes] : ["done"];
    if (isObject(phase.on_outcome)) for (const key of Object.keys(phase.on_outcome)) if (!outcomes.includes(key)) outcomes.push(key);
    const targets = () => otherIds().map((id) => ({ value: id, label: id }));
    return group(
      "On outcome: reopen",
      b("on_outcome").path,
      ...outcomes.map((outcome) =>
        selectField(ctx, `When “${outcome}”, reopen`, b("on_outcome", outcome, "reopen"), targets(), {
          empty: "(nothing: the phase completes)",
        }),
      ),
    );
  }

  gateFields(phase, b, ctx) {
    const mode = "activity" in phase ? "activity" : "check" in phase ? "check" : this.modes.get(phase) || "check";
    const modeSelect = this.modeSelect(ctx, "Checked by", mode, [
      { value: "check", label: "a CEL expression (check)" },
      { value: "activity", label: "a registered check activity" },
    ], (value) => {
      delete phase[value === "check" ? "activity" : "check"];
    }, phase);
    const fields = [modeSelect];
    if (mode === "check") {
      fields.push(exprField(ctx, "Check", b("check"), { help: "True passes; false stops the phases after the gate." }));
    } else {
      fields.push(
        this.activityField(ctx, b("activity")),
        exprMap(ctx, "Input", b("input"), { addLabel: "Add input" }),
        retryGroup(ctx, b("retry")),
        durationField(ctx, "Timeout", b("timeout")),
        textField(ctx, "Queue", b("queue"), { className: "pg-code" }),
      );
    }
    fields.push(
      textField(ctx, "Message", b("message"), { multiline: true, rows: 2, help: "Shown when the gate fails." }),
      textField(ctx, "Action", b("action"), { className: "pg-code", placeholder: "e.g. RETRY_INGESTION" }),
      ...this.failureFields(phase, b, ctx, ON_FAIL.slice(0, 2)),
    );
    return fields;
  }

  choiceFields(phase, b, ctx, otherIds) {
    const targets = { options: otherIds, keepEmpty: true, structural: true, onAdd: (id) => this.makeDownstream(phase, id) };
    const branches = Array.isArray(phase.choices) ? phase.choices : [];
    const fields = branches.map((branch, i) =>
      group(
        `Branch ${i + 1}`,
        b("choices", i).path,
        exprField(ctx, "When", b("choices", i, "when")),
        chipsField(ctx, "Then run", b("choices", i, "then"), targets),
        ctx.editable
          ? h("button", { type: "button", class: "button pg-small", onclick: () => this.removeBranch(phase, i) }, "Remove branch")
          : null,
      ),
    );
    const add = ctx.editable
      ? h("button", { type: "button", class: "button pg-small", onclick: () => this.addBranch(phase) }, "Add branch")
      : null;
    return [
      h("div", { class: "pg-field", "data-path": b("choices").path }, h("span", { class: "pg-label" }, "Choices"),
        h("p", { class: "pg-help" }, "The first true `when` wins; its targets run and the other targets are skipped. Adding a target also makes it depend on this choice.")),
      ...fields,
      add,
      chipsField(ctx, "Otherwise", b("otherwise"), { ...targets, keepEmpty: false }),
    ];
  }

  addBranch(phase) {
    phase.choices = [...(Array.isArray(phase.choices) ? phase.choices : []), { when: "", then: [] }];
    this.store.changed("panel", true);
    this.render();
  }

  removeBranch(phase, index) {
    phase.choices.splice(index, 1);
    if (!phase.choices.length) delete phase.choices;
    this.store.changed("panel", true);
    this.render();
  }

  /** A choice's target must list the choice in its depends_on; do it for the person. */
  makeDownstream(choice, id) {
    const target = this.store.byId(id);
    if (!target || typeof choice.id !== "string") return;
    const deps = Array.isArray(target.depends_on) ? target.depends_on : [];
    if (!deps.includes(choice.id)) target.depends_on = [...deps, choice.id];
  }

  waitFields(phase, b, ctx) {
    const kinds = ["duration", "until", "signal"];
    const mode = kinds.find((kind) => kind in phase) || this.modes.get(phase) || "duration";
    const fields = [
      this.modeSelect(ctx, "Waits for", mode, [
        { value: "duration", label: "a duration" },
        { value: "until", label: "a time (CEL timestamp)" },
        { value: "signal", label: "an outside signal" },
      ], (value) => {
        for (const kind of kinds) if (kind !== value) delete phase[kind];
        if (value !== "signal") delete phase.timeout;
      }, phase),
    ];
    if (mode === "duration") fields.push(durationField(ctx, "Duration", b("duration")));
    if (mode === "until") fields.push(exprField(ctx, "Until", b("until"), { placeholder: "CEL giving a timestamp" }));
    if (mode === "signal") {
      fields.push(
        textField(ctx, "Signal", b("signal"), { className: "pg-code", help: "Delivered by POST …/signals/<name>." }),
        durationField(ctx, "Timeout", b("timeout")),
        durationField(ctx, "Buffer", b("buffer"), {
          help: "How long a signal sent before this phase opens is kept for it (PT0S: refused).",
        }),
      );
    }
    return fields;
  }

  /** The template picker of a sub-workflow (or of a map of sub-workflows), with an optional pinned version. */
  templateFields(phase, b, ctx) {
    const own = this.store.doc?.key;
    const options = this.templates.filter((t) => t.key !== own).map((t) => ({ value: t.key, label: `${t.key}: ${t.name}` }));
    const versions = (this.templates.find((t) => t.key === phase.template)?.versions || []).map((n) => ({ value: n, label: `v${n}` }));
    return [
      selectField(ctx, "Template", b("template"), options, {
        empty: "(choose a published template)",
        onSelect: (value) => {
          b("template").set(value);
          delete phase.version;
          ctx.changed();
          this.render();
        },
      }),
      selectField(ctx, "Version", b("version"), versions, { empty: "(the latest published)" }),
    ];
  }

  mapBodyFields(phase, b, ctx) {
    const mode = "template" in phase ? "template" : this.modes.get(phase) || "activity";
    const fields = [
      this.modeSelect(ctx, "Per item", mode, [
        { value: "activity", label: "an activity" },
        { value: "template", label: "a sub-workflow" },
      ], (value) => {
        if (value === "activity") for (const key of ["template", "version", "business_key"]) delete phase[key];
        else delete phase.activity;
      }, phase),
    ];
    if (mode === "activity") fields.push(this.activityField(ctx, b("activity")));
    else fields.push(...this.templateFields(phase, b, ctx), exprField(ctx, "Business key", b("business_key"), { placeholder: "CEL; `item` and `index` name the item" }));
    return fields;
  }

  /** `on_fail` (a behaviour, or a handler phase to go to) and the `catch` list of error routes. */
  failureFields(phase, b, ctx, behaviours) {
    const downstream = () => this.store.phases.filter((p) => Array.isArray(p.depends_on) && p.depends_on.includes(phase.id)).map((p) => p.id);
    const id = `pg-onfail-${Math.random().toString(36).slice(2)}`;
    const select = h("select", { id });
    select.append(h("option", { value: "" }, "(default: fail)"));
    for (const option of behaviours) select.append(h("option", { value: option.value }, option.label));
    for (const target of downstream()) select.append(h("option", { value: `goto:${target}` }, `go to ${target} (it handles the failure)`));
    const current = phase.on_fail;
    select.value = isObject(current) ? `goto:${current.goto}` : current || "";
    select.disabled = !ctx.editable;
    select.addEventListener("change", () => {
      const value = select.value;
      if (!value) delete phase.on_fail;
      else phase.on_fail = value.startsWith("goto:") ? { goto: value.slice(5) } : value;
      ctx.changed();
    });
    const onFail = h("div", { class: "pg-field", "data-path": b("on_fail").path }, h("label", { for: id }, "On fail"), select,
      h("p", { class: "pg-help" }, "A handler must depend on this phase; it runs instead of the other phases after it."));
    const entries = Array.isArray(phase.catch) ? phase.catch : [];
    const targets = downstream().map((target) => ({ value: target, label: target }));
    const rows = entries.map((entry, i) =>
      group(
        `Catch ${i + 1}`,
        b("catch", i).path,
        chipsField(ctx, "Errors", b("catch", i, "errors"), { options: () => ERROR_CATEGORIES, keepEmpty: true }),
        selectField(ctx, "Go to", b("catch", i, "goto"), targets, { empty: "(choose a handler)" }),
        ctx.editable ? h("button", { type: "button", class: "button pg-small", onclick: () => this.editCatch(phase, i) }, "Remove") : null,
      ),
    );
    const add = ctx.editable
      ? h("button", { type: "button", class: "button pg-small", onclick: () => this.editCatch(phase) }, "Add error route")
      : null;
    return [onFail, ...rows, add];
  }

  editCatch(phase, removeIndex) {
    const entries = Array.isArray(phase.catch) ? [...phase.catch] : [];
    if (removeIndex === undefined) entries.push({ errors: ["any"], goto: "" });
    else entries.splice(removeIndex, 1);
    if (entries.length) phase.catch = entries;
    else delete phase.catch;
    this.store.changed("panel", true);
    this.render();
  }

  compensateGroup(ctx, b) {
    const c = b("compensate");
    const describe = (name) => this.activities.find((a) => a.name === name)?.description || "";
    return group(
      "Compensate (undo after a failure)",
      c.path,
      selectField(ctx, "Undone by", c.child("activity"), this.activities.map((a) => ({ value: a.name, label: a.name })), {
        empty: "(none)",
        describe,
      }),
      exprMap(ctx, "Undo arguments", c.child("input"), { addLabel: "Add undo argument", help: "CEL; may read this phase's own output." }),
      durationField(ctx, "Undo time limit", c.child("timeout"), { help: "Its retry policy (compensate.retry) is set in the JSON tab." }),
    );
  }

  /** A select that switches between alternative fields; `apply` removes the fields of the other modes. */
  modeSelect(ctx, label, mode, options, apply, phase) {
    const id = `pg-mode-${Math.random().toString(36).slice(2)}`;
    const select = h("select", { id });
    for (const option of options) select.append(h("option", { value: option.value }, option.label));
    select.value = mode;
    select.disabled = !ctx.editable;
    select.addEventListener("change", () => {
      this.modes.set(phase, select.value);
      apply(select.value);
      this.store.changed("panel");
      this.render();
    });
    return h("div", { class: "pg-field" }, h("label", { for: id }, label), select);
  }

  renderEdge(sel) {
    const from = String(sel.from.id ?? "?");
    const to = String(sel.to.id ?? "?");
    this.root.append(
      h("h3", {}, "Arrow"),
      h("p", {}, h("code", {}, to), " depends on ", h("code", {}, from), "."),
      this.store.editable
        ? h("button", { type: "button", class: "button", onclick: () => this.store.deleteSelection() }, "Delete arrow")
        : null,
    );
  }

  /** Show the selected phase's problems next to its fields. */
  mark() {
    const form = this.root.querySelector(".pg-phase-form");
    if (!form) return;
    const base = form.getAttribute("data-path");
    const mine = this.store.problems.filter((p) => {
      const parts = parsePointer(p.path || "");
      return parts[0] === "phases" && pointer("phases", parts[1]) === base;
    });
    markProblems(form, mine);
  }

  focus(path) {
    const form = this.root.querySelector(".pg-phase-form");
    if (form) focusField(form, path);
  }
}
