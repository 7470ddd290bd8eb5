"""Where the progress page draws each phase: columns by topological depth, edges as SVG paths."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.definition.plan import Plan
from engine.models import PhaseRun, PhaseState


@dataclass
class Graph:
    """Phases placed in columns by topological depth (parallel branches side by side), with edges."""

    width: int
    height: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    node_w: int = 164
    node_h: int = 54


NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 164, 54, 40, 16, 10


def layout(plan: Plan, runs: Mapping[str, PhaseRun]) -> tuple[dict[str, tuple[int, int]], Graph]:
    """Columns by topological depth, rows by document order inside a column; SVG coordinates."""
    depth: dict[str, int] = {}
    for phase_id in plan.order:  # topological, so every predecessor has its depth already
        preds = plan.predecessors[phase_id]
        depth[phase_id] = 1 + max((depth[p] for p in preds), default=-1)
    columns: dict[int, list[str]] = defaultdict(list)
    for phase_id in sorted(plan.order, key=lambda p: (depth[p], plan.phases[p].position)):
        columns[depth[phase_id]].append(phase_id)
    place: dict[str, tuple[int, int]] = {}
    for column, members in columns.items():
        for row, phase_id in enumerate(members):
            place[phase_id] = (column, row)
    tallest = max((len(m) for m in columns.values()), default=1)
    height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y
    nodes, edges = [], []
    for phase_id, (column, row) in place.items():
        offset = (tallest - len(columns[column])) * (NODE_H + GAP_Y) / 2  # centre short columns
        x = PAD + column * (NODE_W + GAP_X)
        y = PAD + offset + row * (NODE_H + GAP_Y)
        run = runs.get(phase_id)
        nodes.append(
            {
                "id": phase_id,
                "name": plan.phases[phase_id].name or phase_id,
                "type": plan.phases[phase_id].type,
                "state": run.state if run else PhaseState.PENDING,
                "sla": run.sla_status if run else "",
                "assignee": run.assignee.get_username() if run and run.assignee else "",
                "x": x,
                "y": round(y),
                "cx": x + NODE_W / 2,
            }
        )
    by_id = {node["id"]: node for node in nodes}
    for phase_id in plan.order:
        for pred in plan.predecessors[phase_id]:
            a, b = by_id[pred], by_id[phase_id]
            x1, y1 = a["x"] + NODE_W, a["y"] + NODE_H / 2
            x2, y2 = b["x"], b["y"] + NODE_H / 2
            mid = (x1 + x2) / 2
            edges.append(
                {
                    "d": f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2 - 6:.0f},{y2:.0f}",
                    "done": a["state"] in (PhaseState.COMPLETED, PhaseState.SKIPPED),
                }
            )
    width = PAD * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * GAP_X
    return place, Graph(width=width, height=round(height), nodes=nodes, edges=edges)
