"""Helpers for the example activities' tests: contexts that record what the activity reported back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.activities import ActivityContext

DATA = Path(__file__).resolve().parents[3] / "fixtures" / "data"
TEMPLATES = Path(__file__).resolve().parents[3] / "fixtures" / "templates"


class RecordingContext(ActivityContext):
    """An ActivityContext that keeps the heartbeats and checkpoints the activity sent."""

    heartbeats: int
    checkpoints: list[Any]


def make_ctx(attempt: int = 1, last_checkpoint: Any = None, idempotency_key: str = "k") -> RecordingContext:
    ctx = RecordingContext(
        instance_id="t",
        business_key=None,
        phase_id="x",
        attempt=attempt,
        idempotency_key=idempotency_key,
        params={},
        last_checkpoint=last_checkpoint,
    )
    ctx.heartbeats, ctx.checkpoints = 0, []

    def beat() -> None:
        ctx.heartbeats += 1

    ctx._heartbeat = beat
    ctx._checkpoint = ctx.checkpoints.append
    return ctx


def assert_json(output: Any) -> None:
    """The output survives strict JSON (no NaN, no datetimes) unchanged."""
    assert json.loads(json.dumps(output, allow_nan=False)) == output
