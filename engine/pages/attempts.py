"""The attempts of an automated phase, from its audit trail: when each started, how it ended, how long."""

from __future__ import annotations

from typing import Any

ENDINGS = {
    "complete": "completed",
    "wait_retry": "failed, retry scheduled",
    "fail": "failed",
    "skip": "skipped",
    "cancel": "cancelled",
    "force_complete": "force-completed",
    "record_gate": "completed",
}


def attempts_of(history: list[Any]) -> list[dict[str, Any]]:
    """One row per `claim_attempt` in `history` (oldest first), with the transition that ended it."""
    rows: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for row in history:
        if row.item_run_id:
            continue
        if row.name == "claim_attempt":
            current = {
                "number": (row.metadata or {}).get("attempt"),
                "round": row.round,
                "started": row.created_at,
                "ended": None,
                "how": "running",
                "seconds": None,
                "worker": row.actor_label,
                "reason": "",
            }
            rows.append(current)
        elif current is not None and row.name in ENDINGS and current["ended"] is None:
            current["ended"] = row.created_at
            current["how"] = ENDINGS[row.name]
            current["seconds"] = round((row.created_at - current["started"]).total_seconds(), 3)
            current["reason"] = row.reason if row.name in ("wait_retry", "fail") else ""
    return rows


def phase_input(instance: Any, spec: Any, run: Any) -> dict[str, Any] | None:
    """The input an attempt of `run` gets: the operator's correction, else the input mapping evaluated on
    the instance as it stands. None for a phase whose input cannot be evaluated now."""
    from datetime import UTC, datetime

    from engine.runtime.attempts import Claim, build_input
    from engine.runtime.dispatch import AttemptRef

    if run.input_override is not None:
        return dict(run.input_override)
    if spec.type not in ("task", "gate") or run.state == "pending":
        return None
    claim = Claim(AttemptRef(run.pk), instance, spec, run, token="", claimed_at=datetime.now(UTC))
    try:
        return build_input(claim)
    except Exception:  # an expression that fails now: the error section says why
        return None
