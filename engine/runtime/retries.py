"""What a failed attempt leads to: a retry after its backoff, or the dead-letter queue and `on_fail`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from engine.models import ItemRun, PhaseRun
from engine.runtime.advance import Advancer
from engine.runtime.dispatch import AttemptRef, dispatch
from engine.runtime.journal import apply_transition


def retry_delay(spec_retry: Any, *, attempt: int, error: dict[str, Any]) -> timedelta:
    """The policy's backoff, unless a rate limit said how long to wait."""
    retry_after = error.get("retry_after")
    if error.get("category") == "rate_limit" and isinstance(retry_after, int | float) and retry_after >= 0:
        return timedelta(seconds=retry_after)
    return spec_retry.delay(attempt)


@dataclass(frozen=True)
class FailureOutcome:
    """What a failed attempt leads to: the error to store, and the wait before a retry (None: no retry)."""

    error: dict[str, Any]
    retry_in: timedelta | None

    @property
    def reason(self) -> str:
        return self.error["message"][:500]

    def retry_metadata(self, run: PhaseRun | ItemRun) -> dict[str, Any]:
        assert self.retry_in is not None
        return {"attempt": run.attempt, "delay_seconds": self.retry_in.total_seconds()}


def failure_outcome(
    policy: Any, run: PhaseRun | ItemRun, error: dict[str, Any], *, lost: bool, now: datetime
) -> FailureOutcome:
    """The one rule for a failed attempt: poison after too many lost workers, else the retry policy."""
    error = {**error, "at": now.isoformat()}  # the delay counts from when the failure is recorded
    if lost and run.lost_attempts + 1 >= settings.PHASEGATE["MAX_LOST_ATTEMPTS"]:
        message = (
            f"{error['message']} ({run.lost_attempts + 1} attempts in a row lost their "
            "worker: treated as a poison activity)"
        )
        return FailureOutcome({**error, "message": message, "poison": True}, None)
    if policy.should_retry(category=error["category"], attempt=run.policy_attempt):
        return FailureOutcome(error, retry_delay(policy, attempt=run.policy_attempt, error=error))
    return FailureOutcome(error, None)


def retry_ref(phase_run: PhaseRun, run: PhaseRun | ItemRun, spec: Any, delay: timedelta) -> AttemptRef:
    """The broker message that runs a retry when due (only a hint: the due-work sweep finds it anyway)."""
    item_run_id = run.pk if isinstance(run, ItemRun) else None
    return AttemptRef(phase_run.pk, item_run_id, spec.queue, countdown=max(delay.total_seconds(), 0.0))


def handle_attempt_failure(
    advancer: Advancer,
    phase_run: PhaseRun,
    run: PhaseRun | ItemRun,
    error: dict[str, Any],
    *,
    lost: bool = False,
) -> None:
    """Retry the attempt after its backoff if the policy allows; otherwise fail it for good."""
    spec = advancer.plan.phases[phase_run.phase_id]
    outcome = failure_outcome(spec.retry, run, error, lost=lost, now=advancer.now)
    error = outcome.error
    if outcome.retry_in is not None:
        apply_transition(
            run,
            "wait_retry",
            actor=advancer.actor,
            error=error,
            next_run_at=advancer.now + outcome.retry_in,
            lost=lost,
            reason=outcome.reason,
            metadata=outcome.retry_metadata(run),
        )
        dispatch([retry_ref(phase_run, run, spec, outcome.retry_in)])
        return
    advancer.fail_attempt(phase_run, run, error, lost=lost)
