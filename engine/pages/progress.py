"""The progress bar and its words: completed, skipped, failed and cancelled phases told apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# In the order the bar shows them; each is a segment with its own colour (app.css: .seg-<state>).
SETTLED = ("completed", "skipped", "failed", "cancelled")


def progress_summary(counts: Mapping[str, int], total: int) -> dict[str, Any]:
    """Segments of the bar and a sentence: "3 of 7 completed · 2 skipped · 2 cancelled"."""
    segments = [
        {
            "state": state,
            "count": counts.get(state, 0),
            "percent": round(100 * counts.get(state, 0) / total, 1),
        }
        for state in SETTLED
        if total and counts.get(state, 0)
    ]
    completed = counts.get("completed", 0)
    others = [f"{counts[state]} {state}" for state in SETTLED[1:] if counts.get(state)]
    text = " · ".join([f"{completed} of {total} completed", *others])
    settled = sum(counts.get(state, 0) for state in SETTLED)
    return {
        "segments": segments,
        "text": text,
        "total": total,
        "completed": completed,
        "settled": settled,
        "percent": round(100 * completed / total) if total else 0,
    }
