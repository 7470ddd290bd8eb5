// The template panel: key, name, description, params schema, roles, calendar and defaults.

import { clear, h } from "./dom.js";
import {
  WEEKDAYS,
  checkSet,
  chipsField,
  durationField,
  focusField,
  group,
  jsonField,
  markProblems,
  retryGroup,
  slaGroup,
  textField,
} from "./fields.js";
import { binding, isObject, parsePointer, pointer } from "./store.js";

function timeZones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
}

export class TemplatePanel {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    store.addEventListener("change", (event) => {
      if (!["template", "panel", "move", "canvas"].includes(event.detail.source)) this.render();
    });
    store.addEventListener("problems", () => this.mark());
  }

  get ctx() {
    return { editable: this.store.editable, changed: (structural = false) => this.store.changed("template", structural) };
  }

  render() {
    clear(this.root);
    const store = this.store;
    if (!isObject(store.doc)) {
      this.root.append(h("p", { class: "pg-field-error" }, "The document is not a JSON object; fix it in the JSON tab."));
      return;
    }
    const ctx = this.ctx;
    const b = (...keys) => binding(store.doc, keys, "");
    const roles = () => store.roleKeys();
    const zones = h("datalist", { id: "pg-time-zones" }, ...timeZones().map((zone) => h("option", { value: zone })));
    const form = h(
      "div",
      { class: "pg-template-form", "data-path": "" },
      h("div", { class: "pg-problem-slot" }),
      textField(ctx, "Key", b("key"), { className: "pg-code", code: true, help: "Stable identifier; versions share it. e.g. dt_testing" }),
      textField(ctx, "Template name", b("name")),
      textField(ctx, "Template description", b("description"), { multiline: true, rows: 3 }),
      textField(ctx, "Format", b("format"), { className: "pg-code", code: true }),
      jsonField(ctx, "Params (JSON Schema)", b("params"), { rows: 8, help: "What the start parameters must satisfy." }),
      this.rolesEditor(ctx),
      group(
        "Calendar",
        "/calendar",
        zones,
        textField(ctx, "Time zone", b("calendar", "timezone"), { list: "pg-time-zones", placeholder: "e.g. America/New_York" }),
        checkSet(ctx, "Workdays", b("calendar", "workdays"), WEEKDAYS),
        chipsField(ctx, "Holidays", b("calendar", "holidays"), { free: true, inputType: "date" }),
      ),
      group(
        "Defaults",
        "/defaults",
        h("p", { class: "pg-help" }, "Applied to phases that do not set their own."),
        retryGroup(ctx, b("defaults", "retry"), "Default retry"),
        durationField(ctx, "Default timeout", b("defaults", "timeout")),
        slaGroup(ctx, b("defaults", "sla"), roles, "Default SLA"),
      ),
    );
    if (!ctx.editable) for (const fieldset of form.querySelectorAll("fieldset")) fieldset.disabled = true;
    this.root.append(form);
    this.mark();
  }

  /** Roles: key, name and description per row; renaming a key follows it into every phase. */
  rolesEditor(ctx) {
    const store = this.store;
    const b = binding(store.doc, ["roles"], "");
    const rows = Object.entries(isObject(b.get()) ? b.get() : {}).map(([key, spec]) => ({ key, spec: isObject(spec) ? spec : {} }));
    const list = h("div", { class: "pg-role-rows" });
    const commit = (structural = false) => {
      const next = {};
      for (const r of rows) if (r.key !== "") next[r.key] = r.spec;
      b.set(Object.keys(next).length ? next : undefined);
      for (const r of rows) r.el.setAttribute("data-path", pointer("roles", r.key));
      ctx.changed(structural);
    };
    const text = (r, name, label) => {
      const input = h("input", { type: "text", placeholder: label, "aria-label": `Role ${label}` });
      input.value = typeof r.spec[name] === "string" ? r.spec[name] : "";
      input.disabled = !ctx.editable;
      input.addEventListener("input", () => {
        if (input.value === "") delete r.spec[name];
        else r.spec[name] = input.value;
        commit();
      });
      return input;
    };
    const drawRow = (r) => {
      const key = h("input", { type: "text", class: "pg-code", placeholder: "key", "aria-label": "Role key" });
      key.value = r.key;
      key.disabled = !ctx.editable;
      key.addEventListener("change", () => {
        const old = r.key;
        r.key = key.value.trim();
        if (old && r.key) store.renameRole(old, r.key);
        commit(true);
      });
      const remove = ctx.editable
        ? h("button", {
            type: "button",
            class: "pg-chip-x",
            title: "Remove role",
            "aria-label": "Remove role",
            onclick: () => {
              rows.splice(rows.indexOf(r), 1);
              r.el.remove();
              commit(true);
            },
          }, "×")
        : null;
      r.el = h("div", { class: "pg-role-row", "data-path": pointer("roles", r.key) }, key, text(r, "name", "name"), text(r, "description", "description"), remove);
      list.append(r.el);
      return key;
    };
    rows.forEach(drawRow);
    const add = ctx.editable
      ? h("button", {
          type: "button",
          class: "button pg-small",
          onclick: () => {
            const r = { key: "", spec: { name: "" } };
            rows.push(r);
            drawRow(r).focus();
          },
        }, "Add role")
      : null;
    return h(
      "fieldset",
      { class: "pg-group", "data-path": "/roles" },
      h("legend", {}, "Roles"),
      h("p", { class: "pg-help" }, "Every role a phase names must be declared here; a role is a group of that name."),
      list,
      add,
    );
  }

  mark() {
    const form = this.root.querySelector(".pg-template-form");
    if (!form) return;
    const mine = this.store.problems.filter((p) => {
      const parts = parsePointer(p.path || "");
      return !(parts[0] === "phases" && parts.length > 1);
    });
    markProblems(form, mine);
  }

  focus(path) {
    const form = this.root.querySelector(".pg-template-form");
    if (form) focusField(form, path);
  }
}
