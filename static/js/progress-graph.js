// Places the progress page's boxes and arrows with the designer's layout, so a workflow looks the same on
// both. The server renders every box at the origin and hands the layout its input through json_script.

import { NODE_H, NODE_W, edgePath, layeredLayout, placeBoxes } from "./graph-layout.js";

const MARGIN = 16;

function draw(svg, input) {
  const ids = input.nodes.map(([id]) => id);
  const positions = placeBoxes(input.nodes, layeredLayout(ids, input.edges));
  const boxes = new Map([...svg.querySelectorAll("g.node[data-phase]")].map((g) => [g.dataset.phase, g]));
  let right = 0;
  let bottom = 0;
  let left = Infinity;
  let top = Infinity;
  for (const [id, p] of positions) {
    boxes.get(id)?.setAttribute("transform", `translate(${p.x},${p.y})`);
    left = Math.min(left, p.x);
    top = Math.min(top, p.y);
    right = Math.max(right, p.x + NODE_W);
    bottom = Math.max(bottom, p.y + NODE_H);
  }
  for (const path of svg.querySelectorAll("path.edge[data-from]")) {
    const a = positions.get(path.dataset.from);
    const b = positions.get(path.dataset.to);
    if (a && b) path.setAttribute("d", edgePath(a, b));
  }
  if (!positions.size) left = top = 0;
  const width = right - left + 2 * MARGIN;
  const height = bottom - top + 2 * MARGIN;
  svg.setAttribute("viewBox", `${left - MARGIN} ${top - MARGIN} ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.removeAttribute("data-graph-pending");
}

const svg = document.querySelector("svg.graph[data-graph-pending]");
const data = document.getElementById("pg-graph-layout");
if (svg && data) draw(svg, JSON.parse(data.textContent));
