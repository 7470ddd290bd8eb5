"""What the progress page's graph shows: a box per phase with its state, an arrow per dependency.

Where the boxes go is decided in the browser by `static/js/graph-layout.js`, the module the designer
uses too, so that a workflow looks the same on both: boxes placed by hand in the designer (the phase's
`ui: {x, y}`) stay there, the rest get the same layered layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.definition.plan import Plan
from engine.models import DONE_PHASE_STATES, PhaseRun, PhaseState


@dataclass(frozen=True)
class Graph:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]

    @property
    def layout_input(self) -> dict[str, Any]:
        """The part the layout needs, for `json_script`: box ids with their stored hints, and arrows."""
        return {
            "nodes": [[node["id"], node["ui"]] for node in self.nodes],
            "edges": [[edge["from"], edge["to"]] for edge in self.edges],
        }


def ui_hints(definition: Any) -> dict[str, Any]:
    """Each phase's `ui` object as the designer stored it (the plan drops it: the engine ignores it)."""
    phases = definition.get("phases") if isinstance(definition, dict) else None
    hints: dict[str, Any] = {}
    for phase in phases if isinstance(phases, list) else []:
        if isinstance(phase, dict) and isinstance(phase.get("ui"), dict):
            hints.setdefault(str(phase.get("id")), phase["ui"])
    return hints


def graph_of(plan: Plan, runs: Mapping[str, PhaseRun], *, ui: Mapping[str, Any]) -> Graph:
    """Boxes in document order (the designer's order) and arrows along `depends_on`."""
    ordered = sorted(plan.order, key=lambda phase_id: plan.phases[phase_id].position)
    nodes = []
    for phase_id in ordered:
        spec, run = plan.phases[phase_id], runs.get(phase_id)
        nodes.append(
            {
                "id": phase_id,
                "name": spec.name or phase_id,
                "type": spec.type,
                "state": run.state if run else PhaseState.PENDING,
                "sla": run.sla_status if run else "",
                "assignee": run.assignee.get_username() if run and run.assignee else "",
                "ui": ui.get(phase_id),
            }
        )
    states = {node["id"]: node["state"] for node in nodes}
    edges = [
        {"from": pred, "to": phase_id, "done": states[pred] in DONE_PHASE_STATES}
        for phase_id in ordered
        for pred in plan.predecessors[phase_id]
    ]
    return Graph(nodes=nodes, edges=edges)
