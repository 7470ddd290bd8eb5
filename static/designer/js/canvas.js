// The SVG canvas: one <svg> with a box per phase and an arrow per `depends_on` entry.
//
// Performance with hundreds of phases: the layered layout runs only when the graph's structure (the phases
// and arrows) changes, never while dragging; a render reconciles existing elements (keyed by phase identity)
// and touches only what changed; dragging a box moves that box and its own arrows, nothing else.
//
// Interaction: click a box or an arrow to select it; drag a box to move it (stored as the phase's optional
// `ui: {x, y}`); drag from a box's right-hand dot onto another box to make that box depend on it; drag the
// background to pan; wheel to zoom; Delete removes the selection. Text from the document goes in with
// textContent and setAttribute only.

import { s, setText } from "./dom.js";
import { NODE_H, NODE_W, edgePath, layeredLayout, overlapping, placeBoxes } from "../../js/graph-layout.js";
import { PHASE_TYPES, TYPE_NAMES, isObject, parsePointer } from "./store.js";

export { NODE_H, NODE_W };
export const PHASE_MIME = "application/x-phasegate-phase-type";
const NAME_CHARS = 25;
// Above this many phases a full layered layout takes long enough to feel (dagre: ~1 s for 200 phases), so
// an edit that adds a phase or an arrow places only what is new; "Auto layout" still lays out everything.
const INCREMENTAL_ABOVE = 80;
const MIN_ZOOM = 0.05;
const MAX_ZOOM = 2.5;
let canvasCount = 0;

const truncate = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

export class Canvas {
  /**
   * options.editable: allow moving, connecting, deleting and dropping (defaults to store.editable);
   * options.classFor(phase): extra CSS classes for a box (the comparison's added/removed/changed).
   */
  constructor(container, store, options = {}) {
    this.container = container;
    this.store = store;
    this.editable = options.editable ?? store.editable;
    this.classFor = options.classFor || (() => "");
    this.direction = options.direction || "LR";
    this.view = { x: 0, y: 0, k: 1 };
    this.auto = new Map();
    this.layoutKey = null;
    this.positions = new Map();
    this.nodes = new Map();
    this.edges = new Map();
    this.incident = new Map();
    this.drag = null;

    const arrow = `pg-arrow-${++canvasCount}`;
    this.arrowRef = `url(#${arrow})`;
    this.reopenLayer = s("g", { class: "pg-reopens" });
    this.edgeLayer = s("g", { class: "pg-edges" });
    this.nodeLayer = s("g", { class: "pg-nodes" });
    this.tempEdge = s("path", { class: "pg-temp-edge", d: "" });
    this.viewport = s("g", { class: "pg-viewport" }, this.reopenLayer, this.edgeLayer, this.nodeLayer, this.tempEdge);
    this.svg = s(
      "svg",
      { class: "pg-svg", role: "application", "aria-label": "Workflow graph" },
      s(
        "defs",
        {},
        s(
          "marker",
          { id: arrow, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: "userSpaceOnUse", orient: "auto" },
          s("path", { d: "M0,0 L10,5 L0,10 z", class: "pg-arrowhead" }),
        ),
      ),
      this.viewport,
    );
    container.append(this.svg);
    container.classList.toggle("pg-editable", this.editable);
    this.bindEvents();
    store.addEventListener("change", (event) => {
      // An opened file or "Auto layout" deserves a whole new layout.
      if (["load", "relayout"].includes(event.detail.source)) this.layoutKey = null;
      this.render();
    });
    for (const type of ["select", "problems"]) store.addEventListener(type, () => this.render());
  }

  // --- Rendering -------------------------------------------------------------------------------------

  render() {
    const store = this.store;
    const phases = store.phases;
    const first = new Map();
    for (const phase of phases) if (typeof phase.id === "string" && !first.has(phase.id)) first.set(phase.id, phase);
    const uids = phases.map((phase) => store.uid(phase));
    const edges = [];
    phases.forEach((phase, i) => {
      const deps = Array.isArray(phase.depends_on) ? phase.depends_on : [];
      for (const dep of deps) {
        const source = first.get(dep);
        if (source && source !== phase) edges.push({ from: store.uid(source), to: uids[i], source, target: phase });
      }
    });

    // The layout is keyed by phase id (and occurrence, for duplicates) rather than by object, so that the same
    // graph re-parsed from the JSON view keeps its layout instead of being laid out again.
    const seen = new Map();
    const keys = phases.map((phase, i) => {
      if (typeof phase.id !== "string") return `#${uids[i]}`;
      const n = (seen.get(phase.id) || 0) + 1;
      seen.set(phase.id, n);
      return n === 1 ? phase.id : `${phase.id}#${n}`;
    });
    const keyOf = new Map(uids.map((uid, i) => [uid, keys[i]]));
    const layoutEdges = edges.map((e) => [keyOf.get(e.from), keyOf.get(e.to)]);
    const layoutKey = JSON.stringify([keys, layoutEdges]);
    const relayout = layoutKey !== this.layoutKey;
    const before = relayout && this.layoutKey !== null ? new Map(this.positions) : null;
    if (relayout && before && keys.length > INCREMENTAL_ABOVE) {
      this.auto = this.placeNew(keys, uids, layoutEdges, before);
      this.incrementalLayouts = (this.incrementalLayouts || 0) + 1;
    } else if (relayout) {
      const started = performance.now();
      const size = { width: NODE_W, height: NODE_H, direction: this.direction };
      this.auto = layeredLayout(keys, layoutEdges, size);
      this.layouts = (this.layouts || 0) + 1;
      this.lastLayoutMs = performance.now() - started;
    }
    this.layoutKey = layoutKey;

    const placed = this.place(phases, uids, keys);
    const problemCounts = this.problemCounts();
    const selection = store.selection;
    const live = new Set();
    phases.forEach((phase, i) => {
      const uid = uids[i];
      live.add(uid);
      if (!(this.drag?.kind === "move" && this.drag.uid === uid)) this.positions.set(uid, placed.get(uid));
      const node = this.nodes.get(uid) || this.createNode(uid);
      const selected = selection?.kind === "phase" && selection.phase === phase;
      this.updateNode(node, phase, problemCounts.get(phase) || 0, selected);
    });
    if (before) this.keepInPlace(before, selection);
    for (const [uid, node] of this.nodes) {
      if (!live.has(uid)) {
        node.g.remove();
        this.nodes.delete(uid);
        this.positions.delete(uid);
      }
    }

    this.incident = new Map(uids.map((uid) => [uid, []]));
    const liveEdges = new Set();
    for (const edge of edges) {
      const edgeKey = `${edge.from}>${edge.to}`;
      if (liveEdges.has(edgeKey)) continue; // the same id listed twice: one arrow
      liveEdges.add(edgeKey);
      const el = this.edges.get(edgeKey) || this.createEdge(edgeKey);
      Object.assign(el, { from: edge.from, to: edge.to, source: edge.source, target: edge.target });
      const selected = selection?.kind === "edge" && selection.from === edge.source && selection.to === edge.target;
      el.g.setAttribute("class", selected ? "pg-edge-g pg-selected" : "pg-edge-g");
      this.incident.get(edge.from).push(el);
      this.incident.get(edge.to).push(el);
      this.updateEdge(el);
    }
    // Rework loops (`on_outcome` reopen) as dashed arrows back to the reopened phase; not part of the layout.
    phases.forEach((phase, i) => {
      if (!isObject(phase.on_outcome)) return;
      for (const [outcome, spec] of Object.entries(phase.on_outcome)) {
        const target = isObject(spec) ? first.get(spec.reopen) : null;
        if (!target || target === phase) continue;
        const edgeKey = `${uids[i]}~${store.uid(target)}~${outcome}`;
        if (liveEdges.has(edgeKey)) continue;
        liveEdges.add(edgeKey);
        const el = this.edges.get(edgeKey) || this.createReopen(edgeKey);
        Object.assign(el, { from: uids[i], to: store.uid(target), source: phase, target });
        setText(el.title, `On “${outcome}”, ${phase.id} reopens ${target.id}`);
        this.incident.get(el.from).push(el);
        this.incident.get(el.to).push(el);
        this.updateEdge(el);
      }
    });
    for (const [edgeKey, el] of this.edges) {
      if (!liveEdges.has(edgeKey)) {
        el.g.remove();
        this.edges.delete(edgeKey);
      }
    }
  }

  createReopen(edgeKey) {
    const title = s("title");
    const path = s("path", { class: "pg-reopen", "marker-end": this.arrowRef });
    const g = s("g", { class: "pg-reopen-g" }, title, path);
    this.reopenLayer.append(g);
    const el = { g, path, hit: null, title, reopen: true };
    this.edges.set(edgeKey, el);
    return el;
  }

  /**
   * Keep every laid-out box where it is and put each new one after its dependencies (or under everything),
   * clear of the others: the cheap alternative to a whole layout for large graphs.
   */
  placeNew(keys, uids, edges, before) {
    const auto = new Map();
    keys.forEach((key, i) => {
      const kept = this.auto.get(key) || before.get(uids[i]); // a renamed phase stays where it was shown
      if (kept) auto.set(key, kept);
    });
    const taken = [...auto.values()];
    const deps = new Map();
    for (const [from, to] of edges) deps.set(to, [...(deps.get(to) || []), from]);
    const lr = this.direction === "LR";
    const left = taken.length ? Math.min(...taken.map((p) => p.x)) : 16;
    const bottom = taken.length ? Math.max(...taken.map((p) => p.y)) : 16;
    for (const key of keys) {
      if (auto.has(key)) continue;
      const placed = (deps.get(key) || []).map((dep) => auto.get(dep)).filter(Boolean);
      let p;
      if (placed.length && lr) p = { x: Math.max(...placed.map((q) => q.x)) + NODE_W + 70, y: placed[0].y };
      else if (placed.length) p = { x: placed[0].x, y: Math.max(...placed.map((q) => q.y)) + NODE_H + 46 };
      else p = { x: left, y: bottom + NODE_H + 40 };
      for (let guard = 0; guard < 1000 && taken.some((q) => overlapping(p, q)); guard++) p = { x: p.x, y: p.y + NODE_H + 16 };
      auto.set(key, p);
      taken.push(p);
    }
    return auto;
  }

  /**
   * Where each box goes: where the person put it (`ui.x`, `ui.y`), else where the layout put it, moved down
   * out of the way of any box placed by hand so that no two boxes overlap.
   */
  // Stored `ui` positions first, the layered layout for the rest: the rule the progress pages share.
  place(phases, uids, keys) {
    const byKey = placeBoxes(phases.map((phase, i) => [keys[i], phase.ui]), this.auto);
    return new Map(uids.map((uid, i) => [uid, byKey.get(keys[i])]));
  }

  /**
   * After a new layout, shift the view so that the box the person is working on (the selection, an arrow's
   * target, else any box that was already there) stays where it was on screen instead of jumping away.
   */
  keepInPlace(before, selection) {
    const store = this.store;
    const focus = selection?.kind === "phase" ? selection.phase : selection?.kind === "edge" ? selection.to : null;
    let anchor = focus ? store.uid(focus) : null;
    if (!anchor || !before.has(anchor) || !this.positions.has(anchor)) {
      anchor = [...this.positions.keys()].find((uid) => before.has(uid));
    }
    if (!anchor) return;
    const was = before.get(anchor);
    const now = this.positions.get(anchor);
    if (was.x === now.x && was.y === now.y) return;
    this.view = { ...this.view, x: this.view.x - (now.x - was.x) * this.view.k, y: this.view.y - (now.y - was.y) * this.view.k };
    this.applyView();
  }

  problemCounts() {
    const counts = new Map();
    for (const problem of this.store.problems) {
      const parts = parsePointer(problem.path || "");
      if (parts[0] !== "phases" || !/^\d+$/.test(parts[1] || "")) continue;
      const phase = this.store.phaseAt(Number(parts[1]));
      if (phase) counts.set(phase, (counts.get(phase) || 0) + 1);
    }
    return counts;
  }

  createNode(uid) {
    const title = s("title");
    const typeText = s("text", { class: "pg-type-label", x: 14, y: 17 });
    const nameText = s("text", { class: "pg-name", x: 14, y: 36 });
    const idText = s("text", { class: "pg-id", x: 14, y: 52 });
    const badgeText = s("text", { class: "pg-badge-text", x: 0, y: 4 });
    const badge = s("g", { class: "pg-problem-badge", transform: `translate(${NODE_W - 4},2)` }, s("circle", { r: 10 }), badgeText);
    const g = s(
      "g",
      { class: "pg-node", "data-uid": uid },
      title,
      s("rect", { class: "pg-box", width: NODE_W, height: NODE_H, rx: 8 }),
      s("rect", { class: "pg-type-bar", width: 6, height: NODE_H - 12, x: 3, y: 6, rx: 3 }),
      typeText,
      nameText,
      idText,
      this.direction === "LR" ? s("circle", { class: "pg-port-in", cx: 0, cy: NODE_H / 2, r: 4 }) : null,
      this.editable ? s("circle", { class: "pg-port", cx: NODE_W, cy: NODE_H / 2, r: 7 }, s("title", {}, "Drag to a box to connect")) : null,
      badge,
    );
    this.nodeLayer.append(g);
    const node = { g, title, typeText, nameText, idText, badge, badgeText, className: "" };
    this.nodes.set(uid, node);
    return node;
  }

  updateNode(node, phase, problems, selected) {
    const type = TYPE_NAMES.includes(phase.type) ? phase.type : "unknown";
    const label = PHASE_TYPES.find((t) => t.type === type)?.label || String(phase.type ?? "no type");
    const id = typeof phase.id === "string" ? phase.id : "(no id)";
    const name = typeof phase.name === "string" && phase.name ? phase.name : id;
    const classes = ["pg-node", `pg-type-${type}`];
    if (selected) classes.push("pg-selected");
    if (problems) classes.push("pg-has-problem");
    const extra = this.classFor(phase);
    if (extra) classes.push(extra);
    const className = classes.join(" ");
    if (node.className !== className) {
      node.g.setAttribute("class", className);
      node.className = className;
    }
    if (node.g.getAttribute("data-phase-id") !== id) node.g.setAttribute("data-phase-id", id);
    setText(node.typeText, label.toUpperCase());
    setText(node.nameText, truncate(name, NAME_CHARS));
    setText(node.idText, truncate(id, NAME_CHARS + 4));
    setText(node.title, `${label} ${id}: ${name}` + (problems ? ` (${problems} problem${problems > 1 ? "s" : ""})` : ""));
    setText(node.badgeText, problems ? String(problems) : "");
    node.badge.style.display = problems ? "" : "none";
    const p = this.positions.get(node.g.getAttribute("data-uid"));
    const transform = `translate(${p.x},${p.y})`;
    if (node.g.getAttribute("transform") !== transform) node.g.setAttribute("transform", transform);
  }

  createEdge(edgeKey) {
    const hit = s("path", { class: "pg-edge-hit" });
    const path = s("path", { class: "pg-edge", "marker-end": this.arrowRef });
    const g = s("g", { class: "pg-edge-g", "data-edge": edgeKey }, hit, path);
    this.edgeLayer.append(g);
    const el = { g, hit, path };
    this.edges.set(edgeKey, el);
    return el;
  }

  updateEdge(el) {
    const a = this.positions.get(el.from);
    const b = this.positions.get(el.to);
    if (!a || !b) return;
    let d;
    if (el.reopen) {
      // Out of the bottom (right, top to bottom) of the phase with the outcome, back into the reopened one.
      const lr = this.direction === "LR";
      const x1 = lr ? a.x + NODE_W / 2 + 20 : a.x + NODE_W;
      const y1 = lr ? a.y + NODE_H : a.y + NODE_H / 2 + 10;
      const x2 = lr ? b.x + NODE_W / 2 - 20 : b.x + NODE_W + 2;
      const y2 = lr ? b.y + NODE_H + 2 : b.y + NODE_H / 2 - 10;
      const bulge = 40 + Math.min(120, (lr ? Math.abs(x2 - x1) : Math.abs(y2 - y1)) / 6);
      d = lr
        ? `M${x1},${y1} C${x1},${Math.max(y1, y2) + bulge} ${x2},${Math.max(y1, y2) + bulge} ${x2},${y2}`
        : `M${x1},${y1} C${Math.max(x1, x2) + bulge},${y1} ${Math.max(x1, x2) + bulge},${y2} ${x2},${y2}`;
      if (el.path.getAttribute("d") !== d) el.path.setAttribute("d", d);
      return;
    }
    d = edgePath(a, b, this.direction);
    if (el.path.getAttribute("d") !== d) {
      el.path.setAttribute("d", d);
      el.hit.setAttribute("d", d);
    }
    el.g.setAttribute("data-from", el.source.id ?? "");
    el.g.setAttribute("data-to", el.target.id ?? "");
  }

  // --- View: zoom, pan, fit -------------------------------------------------------------------------

  applyView() {
    const { x, y, k } = this.view;
    this.viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
  }

  toWorld(clientX, clientY) {
    const rect = this.svg.getBoundingClientRect();
    return { x: (clientX - rect.left - this.view.x) / this.view.k, y: (clientY - rect.top - this.view.y) / this.view.k };
  }

  zoomAt(factor, clientX, clientY) {
    const rect = this.svg.getBoundingClientRect();
    const cx = clientX ?? rect.left + rect.width / 2;
    const cy = clientY ?? rect.top + rect.height / 2;
    const before = this.toWorld(cx, cy);
    const k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.view.k * factor));
    this.view = { k, x: cx - rect.left - before.x * k, y: cy - rect.top - before.y * k };
    this.applyView();
  }

  fit() {
    const rect = this.svg.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    const points = [...this.positions.values()];
    if (!points.length) {
      this.view = { x: 24, y: 24, k: 1 };
      this.applyView();
      return;
    }
    const minX = Math.min(...points.map((p) => p.x));
    const minY = Math.min(...points.map((p) => p.y));
    const width = Math.max(...points.map((p) => p.x)) + NODE_W - minX;
    const height = Math.max(...points.map((p) => p.y)) + NODE_H - minY;
    const pad = 28;
    const k = Math.max(MIN_ZOOM, Math.min(1.2, (rect.width - 2 * pad) / width, (rect.height - 2 * pad) / height));
    this.view = { k, x: (rect.width - width * k) / 2 - minX * k, y: (rect.height - height * k) / 2 - minY * k };
    this.applyView();
  }

  /** Scroll the view so that `phase` is in the middle, at a readable zoom. */
  centerOn(phase) {
    const p = this.positions.get(this.store.uid(phase));
    const rect = this.svg.getBoundingClientRect();
    if (!p || !rect.width) return;
    const k = Math.max(this.view.k, 0.6);
    this.view = { k, x: rect.width / 2 - (p.x + NODE_W / 2) * k, y: rect.height / 2 - (p.y + NODE_H / 2) * k };
    this.applyView();
  }

  // --- Pointer and keyboard -------------------------------------------------------------------------

  bindEvents() {
    const svg = this.svg;
    svg.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    svg.addEventListener("pointermove", (event) => this.onPointerMove(event));
    svg.addEventListener("pointerup", (event) => this.onPointerUp(event));
    svg.addEventListener("pointercancel", () => this.cancelDrag());
    svg.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        this.zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX, event.clientY);
      },
      { passive: false },
    );
    this.container.addEventListener("keydown", (event) => {
      if (event.target.closest("input, textarea, select")) return;
      if ((event.key === "Delete" || event.key === "Backspace") && this.editable) {
        event.preventDefault();
        this.store.deleteSelection();
      } else if (event.key === "+" || event.key === "=") {
        this.zoomAt(1.2);
      } else if (event.key === "-") {
        this.zoomAt(1 / 1.2);
      } else if (event.key === "f") {
        this.fit();
      }
    });
    if (this.editable) {
      this.container.addEventListener("dragover", (event) => {
        if (event.dataTransfer?.types.includes(PHASE_MIME)) {
          event.preventDefault();
          event.dataTransfer.dropEffect = "copy";
        }
      });
      this.container.addEventListener("drop", (event) => {
        const type = event.dataTransfer?.getData(PHASE_MIME);
        if (!type) return;
        event.preventDefault();
        const at = this.toWorld(event.clientX, event.clientY);
        this.store.addPhase(type, { x: Math.round(at.x - NODE_W / 2), y: Math.round(at.y - NODE_H / 2) });
      });
    }
  }

  phaseOf(element) {
    const g = element?.closest?.(".pg-node");
    return g ? this.store.byUid(g.getAttribute("data-uid")) : null;
  }

  onPointerDown(event) {
    if (event.button !== 0) return;
    this.container.focus({ preventScroll: true });
    const target = event.target;
    const start = { clientX: event.clientX, clientY: event.clientY };
    const phase = this.phaseOf(target);
    if (phase && target.closest(".pg-port") && this.editable) {
      this.drag = { kind: "connect", source: phase, ...start };
    } else if (phase) {
      const uid = this.store.uid(phase);
      this.store.select({ kind: "phase", phase });
      if (this.editable) this.drag = { kind: "move", phase, uid, origin: { ...this.positions.get(uid) }, moved: false, ...start };
    } else if (target.closest(".pg-edge-g")) {
      const el = this.edges.get(target.closest(".pg-edge-g").getAttribute("data-edge"));
      if (el) this.store.select({ kind: "edge", from: el.source, to: el.target });
    } else {
      this.drag = { kind: "pan", origin: { ...this.view }, moved: false, ...start };
    }
    if (this.drag) {
      event.preventDefault();
      this.svg.setPointerCapture(event.pointerId);
    }
  }

  onPointerMove(event) {
    const drag = this.drag;
    if (!drag) return;
    const dx = event.clientX - drag.clientX;
    const dy = event.clientY - drag.clientY;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.kind === "pan") {
      this.view = { ...drag.origin, x: drag.origin.x + dx, y: drag.origin.y + dy };
      this.applyView();
    } else if (drag.kind === "move" && drag.moved) {
      const p = { x: drag.origin.x + dx / this.view.k, y: drag.origin.y + dy / this.view.k };
      this.positions.set(drag.uid, p);
      this.nodes.get(drag.uid)?.g.setAttribute("transform", `translate(${p.x},${p.y})`);
      for (const el of this.incident.get(drag.uid) || []) this.updateEdge(el);
    } else if (drag.kind === "connect") {
      const p = this.positions.get(this.store.uid(drag.source));
      const to = this.toWorld(event.clientX, event.clientY);
      this.tempEdge.setAttribute("d", `M${p.x + NODE_W},${p.y + NODE_H / 2} L${to.x},${to.y}`);
    }
  }

  onPointerUp(event) {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    if (this.svg.hasPointerCapture(event.pointerId)) this.svg.releasePointerCapture(event.pointerId);
    if (drag.kind === "pan" && !drag.moved) {
      this.store.select(null);
    } else if (drag.kind === "move" && drag.moved) {
      const p = this.positions.get(drag.uid);
      this.store.movePhase(drag.phase, p.x, p.y);
    } else if (drag.kind === "connect") {
      this.tempEdge.setAttribute("d", "");
      const target = this.phaseOf(document.elementFromPoint(event.clientX, event.clientY));
      if (target && target !== drag.source) this.store.connect(drag.source, target);
    }
  }

  cancelDrag() {
    if (this.drag?.kind === "move") this.render();
    this.drag = null;
    this.tempEdge.setAttribute("d", "");
  }
}
