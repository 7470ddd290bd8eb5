// Automatic layered layout of the phase graph with the vendored dagre (static/designer/vendor/dagre.min.js,
// a classic script that defines window.dagre). Left to right by default (dependencies on the left of what
// needs them); top to bottom where the canvas is tall and narrow (the comparison's two sides).

/**
 * Top-left positions for `nodes` (ids) given `edges` ([from, to] pairs), as a Map id -> {x, y}.
 * Cycles are allowed (dagre breaks them for ranking); the validation reports them separately.
 */
export function layeredLayout(nodes, edges, { width, height, direction = "LR" }) {
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
