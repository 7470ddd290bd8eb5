"""A `wait` phase: a timer (`duration` or `until`) or an outside signal, with an optional timeout.

It opens into `waiting` with `next_run_at` set; the due-work sweep calls `elapsed` when that time comes, and
`engine.runtime.signals` calls `signal` when the signal arrives (or, when it arrived before the phase opened
and was buffered, as soon as the phase opens).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.definition.plan import PhasePlan
from engine.models import PhaseRun
from engine.runtime.failures import error_record
from engine.runtime.journal import apply_transition
from engine.runtime.kinds.base import Kind

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Wait(Kind):
    name = "wait"

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=None)
        if spec.signal:
            wake_at = adv.now + spec.signal_timeout if spec.signal_timeout else None
            apply_transition(run, "wait_event", actor=adv.actor, next_run_at=wake_at)
            from engine.runtime.signals import consume_buffered  # signals imports this module

            consume_buffered(adv, run, spec.signal)
            return
        if spec.duration is not None:
            wake_at = adv.now + spec.duration
        else:
            wake_at = adv.evaluate(run, spec, "until", datetime, "a timestamp")
            if wake_at is adv.FAILED:
                return
        if wake_at <= adv.now:
            apply_transition(run, "complete", actor=adv.actor, output={}, at=adv.now)
        else:
            apply_transition(run, "wait_event", actor=adv.actor, next_run_at=wake_at)

    def elapsed(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        """Its time came: a timer completes; a signal that did not arrive in time fails (`transient`)."""
        if spec.signal:
            message = f"no signal {spec.signal!r} arrived within {spec.signal_timeout}"
            adv.fail_phase(run, spec, error_record(category="transient", message=message, at=adv.now))
        else:
            apply_transition(run, "complete", actor=adv.actor, output={}, at=adv.now)

    def signal(
        self,
        adv: Advancer,
        run: PhaseRun,
        name: str,
        payload: dict[str, Any],
        *,
        buffered_signal_id: int | None = None,
    ) -> None:
        """The signal arrived (now, or before this phase opened and kept): its payload is the output."""
        metadata: dict[str, Any] = {"signal": name}
        if buffered_signal_id is not None:
            metadata["buffered_signal_id"] = buffered_signal_id
        apply_transition(
            run, "complete", actor=adv.actor, output=dict(payload), at=adv.now, metadata=metadata
        )


WAIT = Wait()
