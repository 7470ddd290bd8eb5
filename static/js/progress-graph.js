// Draws the progress page's graph from the server's JSON (engine/pages/graph.py, Graph.payload): a box per
// phase, an arrow per dependency, placed with the designer's layout so a workflow looks the same on both.
// The server sends data, not markup: a 500-phase instance is one list per box, not an SVG group per box.

import { NODE_H, NODE_W, edgePath, layeredLayout, placeBoxes } from "./graph-layout.js";

const MARGIN = 16;
const SVG = "http://www.w3.org/2000/svg";

// Django's truncatechars: at most `n` characters, the last an ellipsis when cut.
const truncate = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function element(name, attributes = {}, text = "") {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function box(phase, url) {
  const { id, name, type, state, sla, assignee } = phase;
  const link = element("a", { href: url, class: "node-link" });
  const group = element("g", {
    class: `node state-${state} sla-${sla || "none"}`,
    "data-phase": id,
    "data-state": state,
  });
  group.append(
    element("title", {}, `${name} (${type}): ${state}${assignee ? `, held by ${assignee}` : ""}`),
    element("rect", { x: 0, y: 0, width: NODE_W, height: NODE_H, rx: 8 }),
    element("text", { x: 10, y: 24, class: "node-name" }, truncate(name, 22)),
    element("text", { x: 10, y: 46, class: "node-meta" }, `${state}${assignee ? ` · ${truncate(assignee, 14)}` : ""}`),
  );
  link.append(group);
  return link;
}

function draw(svg, payload) {
  const phases = payload.nodes.map((values) => Object.fromEntries(payload.fields.map((f, i) => [f, values[i]])));
  const ids = phases.map((phase) => phase.id);
  const positions = placeBoxes(
    phases.map((phase) => [phase.id, phase.ui]),
    layeredLayout(
      ids,
      payload.edges.map(([from, to]) => [from, to]),
    ),
  );
  const drawn = document.createDocumentFragment();
  for (const [from, to, done] of payload.edges) {
    const a = positions.get(from);
    const b = positions.get(to);
    const path = element("path", { class: done ? "edge done" : "edge", "data-from": from, "data-to": to, "marker-end": "url(#arrow)" });
    if (a && b) path.setAttribute("d", edgePath(a, b));
    drawn.append(path);
  }
  let right = 0;
  let bottom = 0;
  let left = Infinity;
  let top = Infinity;
  for (const phase of phases) {
    const p = positions.get(phase.id);
    const link = box(phase, `${payload.phases_url}${encodeURIComponent(phase.id)}/`);
    link.firstChild.setAttribute("transform", `translate(${p.x},${p.y})`);
    drawn.append(link);
    left = Math.min(left, p.x);
    top = Math.min(top, p.y);
    right = Math.max(right, p.x + NODE_W);
    bottom = Math.max(bottom, p.y + NODE_H);
  }
  svg.append(drawn);
  if (!positions.size) left = top = 0;
  const width = right - left + 2 * MARGIN;
  const height = bottom - top + 2 * MARGIN;
  svg.setAttribute("viewBox", `${left - MARGIN} ${top - MARGIN} ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.removeAttribute("data-graph-pending");
}

const svg = document.querySelector("svg.graph[data-graph-pending]");
const data = document.getElementById("pg-graph");
if (svg && data) draw(svg, JSON.parse(data.textContent));
