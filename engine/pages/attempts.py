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
