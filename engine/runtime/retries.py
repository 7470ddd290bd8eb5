"""What a failed attempt leads to: a retry after its backoff, or the dead-letter queue and `on_fail`."""

from __future__ import annotations

from datetime import timedelta
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
    policy = spec.retry
    error = {**error, "at": advancer.now.isoformat()}  # the delay counts from when the failure is recorded
    poisoned = lost and run.lost_attempts + 1 >= settings.PHASEGATE["MAX_LOST_ATTEMPTS"]
    if poisoned:
        error = {
            **error,
            "message": f"{error['message']} ({run.lost_attempts + 1} attempts in a row lost their "
            "worker: treated as a poison activity)",
            "poison": True,
        }
    elif policy.should_retry(category=error["category"], attempt=run.policy_attempt):
        delay = retry_delay(policy, attempt=run.policy_attempt, error=error)
        next_run_at = advancer.now + delay
        apply_transition(
            run,
            "wait_retry",
            actor=advancer.actor,
            error=error,
            next_run_at=next_run_at,
            lost=lost,
            reason=error["message"][:500],
            metadata={"attempt": run.attempt, "delay_seconds": delay.total_seconds()},
        )
        # The broker message is only a hint; the due-work sweep finds the retry in the database anyway.
        dispatch(
            [
                AttemptRef(
                    phase_run.pk,
                    run.pk if isinstance(run, ItemRun) else None,
                    spec.queue,
                    countdown=max(delay.total_seconds(), 0.0),
                )
            ]
        )
        return
    advancer.fail_attempt(phase_run, run, error, lost=lost)
