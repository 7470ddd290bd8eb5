"""A `task` phase: one activity, run by a worker in attempts under a lease (see `runtime/attempts.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.definition.plan import PhasePlan
from engine.models import PhaseRun
from engine.runtime.dispatch import AttemptRef
from engine.runtime.kinds.base import Kind

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Task(Kind):
    name = "task"

    def is_dispatched(self, spec: PhasePlan) -> bool:
        return True

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        """Send the first attempt to a worker (or keep it for this one: `Advancer.flush_dispatch`)."""
        adv.to_dispatch.append(AttemptRef(run.pk, queue=spec.queue))


TASK = Task()
