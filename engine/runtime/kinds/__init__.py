"""One module per phase kind, each owning how its kind opens, completes and fails.

The locked-instance context (`engine.runtime.advance.Advancer`) decides *when* a phase opens; the kind decides
*what opening means*. Adding a phase kind: write a module here with a `Kind` subclass (see `base.py`),
register it in `KINDS` below, and teach `engine/definition` (schema, compiler) its fields.
"""

from __future__ import annotations

from engine.definition.plan import PhasePlan
from engine.runtime.kinds import choice, gate, human, map, subworkflow, task, wait
from engine.runtime.kinds.base import Kind

KINDS: dict[str, Kind] = {
    "task": task.TASK,
    "gate": gate.GATE,
    "choice": choice.CHOICE,
    "map": map.MAP,
    "wait": wait.WAIT,
    "human": human.HUMAN,
    "subworkflow": subworkflow.SUBWORKFLOW,
}


def kind_of(spec: PhasePlan) -> Kind:
    """The behaviour of the phase's kind."""
    return KINDS[spec.type]
