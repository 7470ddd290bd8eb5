"""What the progress page's graph shows: a box per phase with its state, an arrow per dependency.

The server hands the browser one JSON document (`Graph.payload`, through `json_script`) and
`static/js/progress-graph.js` draws the boxes and arrows from it, placed by `static/js/graph-layout.js`,
the module the designer uses too, so that a workflow looks the same on both: boxes placed by hand in the
designer (the phase's `ui: {x, y}`) stay there, the rest get the same layered layout. A 500-phase
instance costs the server one list per box instead of a rendered SVG group per box; the phase table
below the graph says the same in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.definition.plan import Plan
from engine.models import DONE_PHASE_STATES, PhaseState
from engine.selectors import PhaseGlance

# The order of a box's fields in the payload (progress-graph.js reads them by position).
NODE_FIELDS = ("id", "name", "type", "state", "sla", "assignee", "ui")


@dataclass(frozen=True)
class Graph:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]

    def payload(self, phases_url: str) -> dict[str, Any]:
        """What the browser draws, for `json_script`: boxes as lists of `NODE_FIELDS`, arrows as
        [from, to, done], and the phase pages' address up to the phase id (`…/phases/`)."""
        return {
            "fields": NODE_FIELDS,
            "nodes": [[node[name] for name in NODE_FIELDS] for node in self.nodes],
            "edges": [[edge["from"], edge["to"], edge["done"]] for edge in self.edges],
            "phases_url": phases_url,
        }


def ui_hints(definition: Any) -> dict[str, Any]:
    """Each phase's `ui` object as the designer stored it (the plan drops it: the engine ignores it)."""
    phases = definition.get("phases") if isinstance(definition, dict) else None
    hints: dict[str, Any] = {}
    for phase in phases if isinstance(phases, list) else []:
        if isinstance(phase, dict) and isinstance(phase.get("ui"), dict):
            hints.setdefault(str(phase.get("id")), phase["ui"])
    return hints


def graph_of(plan: Plan, runs: Mapping[str, PhaseGlance], *, ui: Mapping[str, Any]) -> Graph:
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
                "assignee": run.assignee if run else "",
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
