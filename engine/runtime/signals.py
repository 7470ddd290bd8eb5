"""Outside signals that `wait` phases wait for."""

from __future__ import annotations

from typing import Any

from engine.errors import Conflict
from engine.models import PhaseState
from engine.runtime.actors import Actor
from engine.runtime.kinds.wait import WAIT
from engine.runtime.operations import locked


def deliver_signal(*, instance_id: Any, name: str, payload: dict[str, Any] | None, actor: Actor) -> list[str]:
    """Complete every phase waiting for signal `name` with `payload` as its output; return their ids.

    Raises Conflict when no phase of the instance is waiting for that signal right now.
    """
    with locked(instance_id, actor) as adv:
        waiting = [
            adv.runs[phase_id]
            for phase_id, state in adv.runs.states().items()
            if state == PhaseState.WAITING and adv.plan.phases[phase_id].signal == name
        ]
        if not waiting:
            raise Conflict(f"no phase of this instance is waiting for signal {name!r}", signal=name)
        for run in waiting:
            WAIT.signal(adv, run, name, dict(payload or {}))
        return [run.phase_id for run in waiting]
