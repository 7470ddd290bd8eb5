// Form widgets for the property panels. Each widget edits one place of the document through a binding
// (see store.js), carries that place's JSON pointer in `data-path` so that validation problems can be put
// next to it, and is disabled when the designer is read-only. An emptied optional field is removed from the
// document rather than saved as "" (absent and empty mean different things in the format).

import { clear, h } from "./dom.js";
import { isObject, pointer, pointerContains } from "./store.js";

export const ERROR_CATEGORIES = ["transient", "rate_limit", "data", "system"];
export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map((label, i) => ({ value: i + 1, label }));
let fieldCount = 0;
const nextId = () => `pg-f${++fieldCount}`;

function shown(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function row(path, labelText, id, control, help) {
  return h(
    "div",
    { class: "pg-field", "data-path": path },
    h("label", { for: id }, labelText),
    control,
    help ? h("p", { class: "pg-help" }, help) : null,
  );
}

/** A fieldset for a group of fields (retry, SLA, a choice branch). */
export function group(legend, path, ...children) {
  return h("fieldset", { class: "pg-group", "data-path": path }, h("legend", {}, legend), ...children);
}

export function textField(ctx, label, b, opts = {}) {
  const id = nextId();
  const input = opts.multiline
    ? h("textarea", { id, rows: opts.rows || 3, class: opts.className })
    : h("input", { id, type: opts.type || "text", class: opts.className, list: opts.list });
  input.value = shown(b.get());
  if (opts.placeholder) input.placeholder = opts.placeholder;
  input.disabled = !ctx.editable;
  input.spellcheck = !opts.code;
  input.addEventListener(opts.commit || "input", () => {
    const value = input.value;
    if (opts.onCommit) opts.onCommit(value === "" ? undefined : value);
    else {
      b.set(value === "" ? undefined : value);
      ctx.changed(Boolean(opts.structural));
    }
  });
  return row(b.path, label, id, input, opts.help);
}

export function exprField(ctx, label, b, opts = {}) {
  return textField(ctx, label, b, {
    className: "pg-code",
    code: true,
    placeholder: "CEL, e.g. steps.ingest.output.rows > 0",
    ...opts,
  });
}

export function durationField(ctx, label, b, opts = {}) {
  return textField(ctx, label, b, { className: "pg-code", code: true, placeholder: "ISO 8601, e.g. P5D or PT30M", ...opts });
}

export function numberField(ctx, label, b, opts = {}) {
  const id = nextId();
  const input = h("input", { id, type: "number", step: opts.step ?? (opts.integer ? 1 : "any"), min: opts.min, max: opts.max });
  input.value = shown(b.get());
  input.disabled = !ctx.editable;
  input.addEventListener("input", () => {
    if (input.value === "") b.set(undefined);
    else {
      const value = Number(input.value);
      if (!Number.isFinite(value)) return;
      b.set(value);
    }
    ctx.changed();
  });
  return row(b.path, label, id, input, opts.help);
}

/** An optional boolean: "(default)" leaves it out of the document. */
export function boolField(ctx, label, b, opts = {}) {
  const id = nextId();
  const current = b.get();
  const select = h(
    "select",
    { id },
    h("option", { value: "" }, opts.defaultLabel || "(default)"),
    h("option", { value: "true" }, "yes"),
    h("option", { value: "false" }, "no"),
  );
  select.value = current === true ? "true" : current === false ? "false" : "";
  select.disabled = !ctx.editable;
  select.addEventListener("change", () => {
    b.set(select.value === "" ? undefined : select.value === "true");
    ctx.changed();
  });
  return row(b.path, label, id, select, opts.help);
}

/** A choice among `options` ([{value, label}]); a current value not among them stays selectable. */
export function selectField(ctx, label, b, options, opts = {}) {
  const id = nextId();
  const current = b.get();
  const select = h("select", { id });
  if (opts.empty !== false) select.append(h("option", { value: "" }, opts.empty || "(none)"));
  const all = [...options];
  if (current !== undefined && current !== "" && !all.some((o) => o.value === current)) {
    all.push({ value: current, label: `${shown(current)} (not available)` });
  }
  for (const option of all) select.append(h("option", { value: shown(option.value) }, option.label ?? shown(option.value)));
  select.value = shown(current);
  select.disabled = !ctx.editable;
  const help = h("p", { class: "pg-help" }, opts.describe ? opts.describe(current) : opts.help || "");
  select.addEventListener("change", () => {
    const value = select.value === "" ? undefined : all.find((o) => shown(o.value) === select.value)?.value;
    if (opts.onSelect) opts.onSelect(value);
    else {
      b.set(value);
      ctx.changed(Boolean(opts.structural));
    }
    if (opts.describe) help.textContent = opts.describe(value);
  });
  return h("div", { class: "pg-field", "data-path": b.path }, h("label", { for: id }, label), select, help);
}

/**
 * A list of strings shown as removable chips, added from a select of `options()` or typed when `free`.
 * opts.keepEmpty stores [] instead of removing the field; opts.onAdd(item) runs after an item is added.
 */
export function chipsField(ctx, label, b, opts = {}) {
  const id = nextId();
  const list = h("span", { class: "pg-chip-list" });
  const values = () => (Array.isArray(b.get()) ? b.get() : []);
  let adder;
  const commit = (next, added) => {
    b.set(next.length || opts.keepEmpty ? next : undefined);
    draw();
    if (added !== undefined && opts.onAdd) opts.onAdd(added);
    ctx.changed(Boolean(opts.structural));
  };
  const add = (item) => {
    if (item === "" || item === undefined || values().includes(item)) return;
    commit([...values(), item], item);
  };
  const draw = () => {
    clear(list);
    for (const item of values()) {
      list.append(
        h(
          "span",
          { class: "pg-chip" },
          shown(item),
          ctx.editable
            ? h(
                "button",
                {
                  type: "button",
                  class: "pg-chip-x",
                  title: "Remove",
                  "aria-label": `Remove ${shown(item)}`,
                  onclick: () => commit(values().filter((v) => v !== item)),
                },
                "×",
              )
            : null,
        ),
      );
    }
    if (adder && adder.tagName === "SELECT") {
      clear(adder);
      adder.append(h("option", { value: "" }, opts.addLabel || "add…"));
      const taken = new Set(values());
      for (const option of opts.options()) if (!taken.has(option)) adder.append(h("option", { value: option }, option));
      adder.value = "";
    }
  };
  const controls = [];
  if (opts.free) {
    adder = h("input", { id, type: opts.inputType || "text", class: "pg-chip-input", placeholder: opts.placeholder || "" });
    const button = h("button", { type: "button", class: "button pg-small", onclick: () => submit() }, "Add");
    const submit = () => {
      add(adder.value.trim());
      adder.value = "";
    };
    adder.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        submit();
      }
    });
    controls.push(adder, button);
  } else {
    adder = h("select", { id, class: "pg-chip-select" });
    adder.addEventListener("change", () => add(adder.value));
    controls.push(adder);
  }
  draw();
  const field = h(
    "div",
    { class: "pg-field pg-chips", "data-path": b.path },
    h("label", { for: id }, label),
    list,
    ctx.editable ? h("span", { class: "pg-chip-add" }, ...controls) : null,
    opts.help ? h("p", { class: "pg-help" }, opts.help) : null,
  );
  return field;
}

/** Checkboxes for a set drawn from `options` ([{value, label}]), kept in the options' order. */
export function checkSet(ctx, label, b, options, opts = {}) {
  const current = () => (Array.isArray(b.get()) ? b.get() : []);
  const boxes = options.map((option) => {
    const id = nextId();
    const box = h("input", { id, type: "checkbox", value: shown(option.value) });
    box.checked = current().includes(option.value);
    box.disabled = !ctx.editable;
    box.addEventListener("change", () => {
      const known = new Set(options.map((o) => o.value));
      const next = options.filter((o, i) => boxes[i].box.checked).map((o) => o.value);
      const unknown = current().filter((v) => !known.has(v)); // keep what this widget cannot show
      const all = [...next, ...unknown];
      b.set(all.length ? all : undefined);
      ctx.changed();
    });
    return { box, label: h("label", { for: id, class: "pg-check" }, box, option.label ?? shown(option.value)) };
  });
  return h(
    "div",
    { class: "pg-field pg-checkset", "data-path": b.path },
    h("span", { class: "pg-label" }, label),
    h("span", { class: "pg-checks" }, ...boxes.map((b2) => b2.label)),
    opts.help ? h("p", { class: "pg-help" }, opts.help) : null,
  );
}

/** A JSON value (a JSON Schema) in a textarea; the document changes only when the text parses. */
export function jsonField(ctx, label, b, opts = {}) {
  const id = nextId();
  const area = h("textarea", { id, rows: opts.rows || 6, class: "pg-code", spellcheck: "false" });
  const value = b.get();
  area.value = value === undefined ? "" : JSON.stringify(value, null, 2);
  area.disabled = !ctx.editable;
  const error = h("p", { class: "pg-field-error", hidden: true });
  area.addEventListener("input", () => {
    const text = area.value.trim();
    if (text === "") {
      error.hidden = true;
      b.set(undefined);
      ctx.changed();
      return;
    }
    try {
      const parsed = JSON.parse(text);
      error.hidden = true;
      b.set(parsed);
      ctx.changed();
    } catch (exc) {
      error.textContent = `Not JSON yet: ${exc.message}`;
      error.hidden = false;
    }
  });
  return h(
    "div",
    { class: "pg-field", "data-path": b.path },
    h("label", { for: id }, label),
    area,
    error,
    opts.help ? h("p", { class: "pg-help" }, opts.help) : null,
  );
}

/** A map of names to CEL expressions (a phase's `input`), one row per entry, in the document's order. */
export function exprMap(ctx, label, b, opts = {}) {
  const rowsEl = h("div", { class: "pg-map-rows" });
  const rows = Object.entries(isObject(b.get()) ? b.get() : {}).map(([key, value]) => ({ key, value }));
  const commit = () => {
    const next = {};
    for (const r of rows) if (r.key !== "") next[r.key] = r.value;
    b.set(Object.keys(next).length ? next : undefined);
    for (const r of rows) r.el.setAttribute("data-path", b.path + pointer(r.key));
    ctx.changed();
  };
  const drawRow = (r) => {
    const key = h("input", { type: "text", class: "pg-map-key pg-code", placeholder: "name", "aria-label": `${label}: name` });
    const value = h("input", { type: "text", class: "pg-map-value pg-code", placeholder: "CEL expression", "aria-label": `${label}: expression` });
    key.value = r.key;
    value.value = shown(r.value);
    key.disabled = value.disabled = !ctx.editable;
    key.spellcheck = value.spellcheck = false;
    key.addEventListener("input", () => {
      r.key = key.value;
      commit();
    });
    value.addEventListener("input", () => {
      r.value = value.value;
      commit();
    });
    const remove = ctx.editable
      ? h(
          "button",
          {
            type: "button",
            class: "pg-chip-x",
            title: "Remove",
            "aria-label": "Remove entry",
            onclick: () => {
              rows.splice(rows.indexOf(r), 1);
              r.el.remove();
              commit();
            },
          },
          "×",
        )
      : null;
    r.el = h("div", { class: "pg-map-row", "data-path": b.path + pointer(r.key) }, key, value, remove);
    rowsEl.append(r.el);
    return key;
  };
  rows.forEach(drawRow);
  const addButton = ctx.editable
    ? h(
        "button",
        {
          type: "button",
          class: "button pg-small",
          onclick: () => {
            const r = { key: "", value: "" };
            rows.push(r);
            drawRow(r).focus();
          },
        },
        opts.addLabel || "Add entry",
      )
    : null;
  return h(
    "div",
    { class: "pg-field pg-map", "data-path": b.path },
    h("span", { class: "pg-label" }, label),
    rowsEl,
    addButton,
    opts.help ? h("p", { class: "pg-help" }, opts.help) : null,
  );
}

export function retryGroup(ctx, b, legend = "Retry") {
  return group(
    legend,
    b.path,
    numberField(ctx, "Max attempts", b.child("max_attempts"), { integer: true, min: 1, max: 100 }),
    durationField(ctx, "Initial interval", b.child("initial_interval")),
    numberField(ctx, "Backoff", b.child("backoff"), { min: 1, max: 100, step: 0.5, help: "Each delay is the last one times this." }),
    durationField(ctx, "Max interval", b.child("max_interval")),
    boolField(ctx, "Jitter", b.child("jitter")),
    checkSet(ctx, "Retry on", b.child("retry_on"), ERROR_CATEGORIES.map((value) => ({ value }))),
  );
}

export function slaGroup(ctx, b, roleKeys, legend = "SLA") {
  return group(
    legend,
    b.path,
    durationField(ctx, "SLA duration", b.child("duration")),
    boolField(ctx, "Business days", b.child("business_days"), { help: "Count only the calendar's workdays." }),
    numberField(ctx, "At risk at", b.child("at_risk"), { min: 0, max: 1, step: 0.05, help: "Fraction of the time, e.g. 0.8." }),
    chipsField(ctx, "Escalate to", b.child("escalate_to"), { options: roleKeys }),
  );
}

// --- Problems next to fields -----------------------------------------------------------------------------

/** Where a problem belongs: a "the field x is required" schema problem belongs to the missing field
 * (the validator points at the object that lacks it; several missing fields stay on the object). */
export function targetPath(problem) {
  const path = problem.path || "";
  const missing = /^the field (\S+) is required$/.exec(problem.message || "");
  return missing && problem.code === "schema" ? path + pointer(missing[1]) : path;
}

function bestField(root, path) {
  let best = null;
  let bestPath = null;
  for (const el of root.querySelectorAll("[data-path]")) {
    const fieldPath = el.getAttribute("data-path");
    if (pointerContains(fieldPath, path) && (bestPath === null || fieldPath.length > bestPath.length)) {
      best = el;
      bestPath = fieldPath;
    }
  }
  return best;
}

/** Mark each problem on the field with the longest pointer containing it; return the ones no field took. */
export function markProblems(root, problems) {
  for (const el of root.querySelectorAll(".pg-invalid")) el.classList.remove("pg-invalid");
  for (const el of root.querySelectorAll(".pg-problem-note")) el.remove();
  const unplaced = [];
  for (const problem of problems) {
    const field = bestField(root, targetPath(problem));
    if (!field) {
      unplaced.push(problem);
      continue;
    }
    field.classList.add("pg-invalid");
    const note = h("p", { class: "pg-field-error pg-problem-note" }, `${problem.code}: ${problem.message}`);
    const slot = field.querySelector(":scope > .pg-problem-slot");
    if (slot) slot.append(note);
    else field.append(note);
  }
  return unplaced;
}

/** Bring the field for `path` into view and focus its first control. */
export function focusField(root, path) {
  const field = bestField(root, path);
  if (!field) return false;
  field.scrollIntoView({ block: "center" });
  const control = field.matches("input, select, textarea") ? field : field.querySelector("input, select, textarea");
  if (control && !control.disabled) control.focus({ preventScroll: true });
  field.classList.add("pg-flash");
  setTimeout(() => field.classList.remove("pg-flash"), 1200);
  return true;
}
