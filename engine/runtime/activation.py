"""What CEL expressions see: params, steps, instance (and item, index inside a map)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.models import PhaseRun, WorkflowInstance


def step_view(run: PhaseRun) -> dict[str, Any]:
    return {
        "output": run.output or {},
        "state": run.state,
        "outcome": run.outcome,
        "data": run.data or {},
        "error": run.error or {},  # what a handler phase of an error route sees of the failure
    }


def build_activation(instance: WorkflowInstance, runs: Iterable[PhaseRun], **extra: Any) -> dict[str, Any]:
    return {
        "params": instance.params or {},
        "steps": {run.phase_id: step_view(run) for run in runs},
        "instance": {
            "id": str(instance.pk),
            "business_key": instance.business_key or "",
            "started_at": instance.started_at or instance.created_at,
        },
        **extra,
    }


def runs_for_activation(instance_id: Any, phase_ids: Iterable[str]) -> list[PhaseRun]:
    """Only the phase runs an expression reads, in one query."""
    wanted = list(phase_ids)
    if not wanted:
        return []
    return list(
        PhaseRun.objects.filter(instance_id=instance_id, phase_id__in=wanted).only(
            "id", "phase_id", "state", "output", "outcome", "data", "error", "instance_id"
        )
    )
