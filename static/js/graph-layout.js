// Where each phase's box goes, for the designer and for the progress pages alike, so that a workflow looks
// the same on both: boxes a person placed in the designer (the phase's optional `ui: {x, y}`) stay where
// they were put, every other box comes from an automatic layered layout with the vendored dagre
// (static/vendor/dagre.min.js, a classic script that defines window.dagre). Left to right by default
// (dependencies on the left of what needs them); top to bottom where the canvas is tall and narrow.

export const NODE_W = 184;
export const NODE_H = 60;

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

export const overlapping = (a, b) =>
  a.x < b.x + NODE_W + 8 && b.x < a.x + NODE_W + 8 && a.y < b.y + NODE_H + 8 && b.y < a.y + NODE_H + 8;

/**
 * Top-left positions for `nodes` (ids) given `edges` ([from, to] pairs), as a Map id -> {x, y}.
 * Cycles are allowed (dagre breaks them for ranking); the validation reports them separately.
 */
export function layeredLayout(nodes, edges, { width = NODE_W, height = NODE_H, direction = "LR" } = {}) {
  const dagre = window.dagre;
  if (!dagre) return gridLayout(nodes, { width, height });
  const graph = new dagre.graphlib.Graph();
  const across = direction === "LR" ? { nodesep: 22, ranksep: 70 } : { nodesep: 30, ranksep: 46 };
  graph.setGraph({ rankdir: direction, ...across, edgesep: 12, marginx: 16, marginy: 16 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const id of nodes) graph.setNode(id, { width, height });
  for (const [from, to] of edges) if (from !== to) graph.setEdge(from, to);
  dagre.layout(graph);
  const positions = new Map();
  for (const id of nodes) {
    const node = graph.node(id);
    positions.set(id, { x: Math.round(node.x - width / 2), y: Math.round(node.y - height / 2) });
  }
  return positions;
}

// Only if the vendored script failed to load: the graph stays usable, just not layered.
function gridLayout(nodes, { width, height }) {
  const columns = Math.max(1, Math.ceil(Math.sqrt(nodes.length)));
  return new Map(
    nodes.map((id, i) => [id, { x: 16 + (i % columns) * (width + 60), y: 16 + Math.floor(i / columns) * (height + 30) }]),
  );
}

/**
 * The final position of each box: `items` are [key, ui] pairs in document order, `auto` the layered
 * layout by key. A box with a stored `ui` position goes there; the others take their automatic place,
 * moved down clear of the placed ones. Returns a Map key -> {x, y}.
 */
export function placeBoxes(items, auto) {
  const placed = new Map();
  const pinned = [];
  const loose = [];
  for (const [key, ui] of items) {
    const hint = isObject(ui) ? ui : {};
    if (isNumber(hint.x) && isNumber(hint.y)) {
      placed.set(key, { x: hint.x, y: hint.y });
      pinned.push({ x: hint.x, y: hint.y });
    } else {
      loose.push(key);
    }
  }
  for (const key of loose) {
    const start = auto.get(key) || { x: 0, y: 0 };
    let p = { ...start };
    if (pinned.length) {
      for (let guard = 0; guard < 1000 && pinned.some((q) => overlapping(p, q)); guard++) p = { x: p.x, y: p.y + NODE_H + 16 };
      if (p.y !== start.y) pinned.push(p); // moved boxes must not be covered by later ones
    }
    placed.set(key, p);
  }
  return placed;
}

/** The SVG path of a dependency arrow from the box at `a` to the box at `b` (top-left corners). */
export function edgePath(a, b, direction = "LR") {
  if (direction === "TB") {
    const x1 = a.x + NODE_W / 2;
    const y1 = a.y + NODE_H;
    const x2 = b.x + NODE_W / 2;
    const y2 = b.y - 2;
    const dy = Math.max(30, Math.abs(y2 - y1) / 2);
    return `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
  }
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x - 2;
  const y2 = b.y + NODE_H / 2;
  const dx = Math.max(40, Math.abs(x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
}
