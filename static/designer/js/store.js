// The template document being designed, the selection and the latest problems, with change events.
//
// The document is kept as the plain JSON object the server sent (or the JSON view parsed) and is edited in
// place, field by field: whatever the designer does not know (unknown fields, `ui` hints, key order) stays
// exactly as it was, so that canvas -> JSON -> canvas is a round trip that changes nothing.
//
// Events (CustomEvent on the store):
//   "change"   {source, structural}  the document changed; structural = phases or arrows were added/removed
//   "select"   {}                    the selection changed
//   "problems" {}                    new validation problems arrived

export const PHASE_TYPES = [
  { type: "human", label: "Human", hint: "Work a person with one of the phase's roles claims and completes." },
  { type: "task", label: "Task", hint: "Calls a registered Python activity on a worker." },
  { type: "gate", label: "Gate", hint: "A fail-fast quality check between phases." },
  { type: "choice", label: "Choice", hint: "Picks which downstream phases run." },
  { type: "map", label: "Map", hint: "Runs an activity once per item of a list." },
  { type: "wait", label: "Wait", hint: "Waits for a time or for an outside signal." },
  { type: "subworkflow", label: "Sub-workflow", hint: "Starts an instance of another template and waits for it." },
];
export const TYPE_NAMES = PHASE_TYPES.map((t) => t.type);

export const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** RFC 6901: "/phases/3/depends_on/0" -> ["phases", "3", "depends_on", "0"]. */
export function parsePointer(path) {
  if (!path) return [];
  return path.split("/").slice(1).map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function pointer(...parts) {
  return parts.map((part) => "/" + String(part).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

/** Whether pointer `prefix` names `path` or something that contains it (segment-wise). */
export function pointerContains(prefix, path) {
  return prefix === "" || path === prefix || path.startsWith(prefix + "/");
}

/** Read, write and delete a value at `keys` below `base`; writing undefined deletes and prunes empty parents. */
export function binding(base, keys, basePath) {
  return {
    path: basePath + pointer(...keys),
    child(...more) {
      return binding(base, [...keys, ...more], basePath);
    },
    get() {
      let node = base;
      for (const key of keys) {
        if (node === null || typeof node !== "object") return undefined;
        node = node[key];
      }
      return node;
    },
    set(value) {
      // Intermediate containers may be objects or arrays (["choices", 0, "when"]); missing ones become objects.
      const isContainer = (node) => node !== null && typeof node === "object";
      if (value === undefined) {
        const chain = [base];
        for (const key of keys.slice(0, -1)) {
          const next = chain[chain.length - 1][key];
          if (!isContainer(next)) return;
          chain.push(next);
        }
        delete chain[chain.length - 1][keys[keys.length - 1]];
        // Drop objects this binding emptied ({"sla": {}} is not what anyone meant), never `base` itself and
        // never an array element (that would leave a hole).
        for (let i = chain.length - 1; i > 0; i--) {
          if (!isObject(chain[i]) || Object.keys(chain[i]).length || Array.isArray(chain[i - 1])) break;
          delete chain[i - 1][keys[i - 1]];
        }
        return;
      }
      let node = base;
      for (const key of keys.slice(0, -1)) {
        if (!isContainer(node[key])) node[key] = {};
        node = node[key];
      }
      node[keys[keys.length - 1]] = value;
    },
  };
}

export class Store extends EventTarget {
  constructor(document, { editable }) {
    super();
    this.doc = document;
    this.editable = editable;
    this.selection = null; // {kind: "phase", phase} | {kind: "edge", from, to} | {kind: "template"}
    this.problems = [];
    this._uids = new WeakMap();
    this._next = 1;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  changed(source, structural = false) {
    this.emit("change", { source, structural });
  }

  /** The phases that are objects (a document typed in the JSON view may hold anything). */
  get phases() {
    return Array.isArray(this.doc?.phases) ? this.doc.phases.filter(isObject) : [];
  }

  /** A stable identity for a phase object, independent of its (editable, possibly duplicated) id. */
  uid(phase) {
    let uid = this._uids.get(phase);
    if (!uid) {
      uid = `n${this._next++}`;
      this._uids.set(phase, uid);
    }
    return uid;
  }

  byUid(uid) {
    return this.phases.find((phase) => this.uid(phase) === uid) || null;
  }

  /** The first phase with `id`, as validation resolves references. */
  byId(id) {
    return this.phases.find((phase) => phase.id === id) || null;
  }

  indexOf(phase) {
    return Array.isArray(this.doc?.phases) ? this.doc.phases.indexOf(phase) : -1;
  }

  phaseAt(index) {
    const phase = Array.isArray(this.doc?.phases) ? this.doc.phases[index] : undefined;
    return isObject(phase) ? phase : null;
  }

  ids() {
    return this.phases.map((phase) => phase.id).filter((id) => typeof id === "string");
  }

  roleKeys() {
    return isObject(this.doc?.roles) ? Object.keys(this.doc.roles) : [];
  }

  select(selection) {
    this.selection = selection;
    this.emit("select");
  }

  selectedPhase() {
    const sel = this.selection;
    return sel && sel.kind === "phase" && this.indexOf(sel.phase) >= 0 ? sel.phase : null;
  }

  /** Replace the whole document (JSON view, file import); keep the selection by phase id when possible. */
  replace(document, source) {
    const selected = this.selectedPhase();
    const had = this.selection !== null;
    this.doc = document;
    if (selected) {
      const same = this.byId(selected.id);
      this.selection = same ? { kind: "phase", phase: same } : null;
    } else if (this.selection?.kind === "edge") {
      this.selection = null;
    }
    this.changed(source, true);
    // The same phase in the new document is still "the selection": no select event, which would move the
    // person away from the JSON they are typing in.
    if (had && this.selection === null) this.emit("select");
  }

  setProblems(problems) {
    this.problems = Array.isArray(problems) ? problems : [];
    this.emit("problems");
  }

  uniqueId(base) {
    const taken = new Set(this.ids());
    for (let n = 1; ; n++) {
      const id = `${base}_${n}`;
      if (!taken.has(id)) return { id, n };
    }
  }

  addPhase(type, ui) {
    if (!isObject(this.doc)) this.doc = {};
    if (!Array.isArray(this.doc.phases)) this.doc.phases = [];
    const spec = PHASE_TYPES.find((t) => t.type === type) || PHASE_TYPES[0];
    const { id, n } = this.uniqueId(spec.type);
    // Required fields are left for the person to fill in: validation points at each one on the new box.
    const phase = { id, name: `${spec.label} ${n}`, type: spec.type };
    if (ui) phase.ui = ui;
    this.doc.phases.push(phase);
    this.selection = { kind: "phase", phase };
    this.changed("canvas", true);
    this.emit("select");
    return phase;
  }

  removePhase(phase) {
    const index = this.indexOf(phase);
    if (index < 0) return;
    this.doc.phases.splice(index, 1);
    // References to the removed phase would all be `unknown_phase` problems; nobody means to keep them.
    for (const other of this.phases) removeReferences(other, phase.id);
    this.selection = null;
    this.changed("canvas", true);
    this.emit("select");
  }

  /** Make `to` depend on `from`. False when it already does or when they are the same phase. */
  connect(from, to) {
    if (from === to || typeof from.id !== "string") return false;
    const deps = Array.isArray(to.depends_on) ? to.depends_on : [];
    if (deps.includes(from.id)) return false;
    to.depends_on = [...deps, from.id];
    this.selection = { kind: "edge", from, to };
    this.changed("canvas", true);
    this.emit("select");
    return true;
  }

  disconnect(from, to) {
    if (!Array.isArray(to.depends_on)) return;
    to.depends_on = to.depends_on.filter((id) => id !== from.id);
    if (!to.depends_on.length) delete to.depends_on;
    if (this.selection?.kind === "edge") this.selection = null;
    this.changed("canvas", true);
    this.emit("select");
  }

  deleteSelection() {
    const sel = this.selection;
    if (!this.editable || !sel) return;
    if (sel.kind === "phase") this.removePhase(sel.phase);
    else if (sel.kind === "edge") this.disconnect(sel.from, sel.to);
  }

  movePhase(phase, x, y) {
    phase.ui = { ...(isObject(phase.ui) ? phase.ui : {}), x: Math.round(x), y: Math.round(y) };
    this.changed("move");
  }

  /** Forget every moved position so the automatic layout places all phases again. */
  forgetPositions() {
    for (const phase of this.phases) {
      if (!isObject(phase.ui)) continue;
      delete phase.ui.x;
      delete phase.ui.y;
      if (!Object.keys(phase.ui).length) delete phase.ui;
    }
    this.changed("relayout", true);
  }

  /** Give a phase a new id and follow it in every reference to the old one. */
  renameId(phase, id) {
    const old = phase.id;
    if (id === old) return;
    const first = this.byId(old) === phase; // references resolve to the first phase with an id
    if (id === undefined) delete phase.id;
    else phase.id = id;
    if (first && typeof old === "string" && typeof id === "string" && !this.phases.some((p) => p !== phase && p.id === old)) {
      for (const other of this.phases) renameReferences(other, old, id);
    }
    this.changed("panel", true);
  }

  /** Rename a role key in every phase that names it. */
  renameRole(old, key) {
    const swap = (list) => (Array.isArray(list) ? list.map((role) => (role === old ? key : role)) : list);
    for (const phase of this.phases) {
      if (Array.isArray(phase.roles)) phase.roles = swap(phase.roles);
      if (isObject(phase.sla) && Array.isArray(phase.sla.escalate_to)) phase.sla.escalate_to = swap(phase.sla.escalate_to);
    }
    const defaultSla = this.doc?.defaults?.sla;
    if (isObject(defaultSla) && Array.isArray(defaultSla.escalate_to)) defaultSla.escalate_to = swap(defaultSla.escalate_to);
  }
}

function mapIdLists(phase, fn) {
  if (Array.isArray(phase.depends_on)) phase.depends_on = fn(phase.depends_on);
  if (Array.isArray(phase.choices)) {
    for (const branch of phase.choices) if (isObject(branch) && Array.isArray(branch.then)) branch.then = fn(branch.then);
  }
  if (Array.isArray(phase.otherwise)) phase.otherwise = fn(phase.otherwise);
}

function removeReferences(phase, id) {
  mapIdLists(phase, (list) => list.filter((item) => item !== id));
  if (Array.isArray(phase.depends_on) && !phase.depends_on.length) delete phase.depends_on;
  if (isObject(phase.on_outcome)) {
    for (const [outcome, spec] of Object.entries(phase.on_outcome)) {
      if (isObject(spec) && spec.reopen === id) delete phase.on_outcome[outcome];
    }
    if (!Object.keys(phase.on_outcome).length) delete phase.on_outcome;
  }
}

function renameReferences(phase, old, id) {
  mapIdLists(phase, (list) => list.map((item) => (item === old ? id : item)));
  if (isObject(phase.on_outcome)) {
    for (const spec of Object.values(phase.on_outcome)) if (isObject(spec) && spec.reopen === old) spec.reopen = id;
  }
}
