"""Retention for interfaces (beat's task, `manage.py prune_instances`): see engine.runtime.retention."""

from __future__ import annotations

from datetime import timedelta
from typing import IO

from django.utils import timezone

from engine.runtime import retention
from engine.runtime.retention import INSTANCE_BATCH, PruneReport, open_archive


def outbox_prune() -> int:
    """Delete delivered outbox events older than PHASEGATE_OUTBOX_RETENTION, in bounded batches."""
    return retention.outbox_prune(now=timezone.now(), older_than=retention.outbox_retention())


def instances_prune(
    *,
    finished_before: timedelta,
    states: list[str] | None = None,
    template: str = "",
    dry_run: bool,
    delete_audit_trail: bool = False,
    archive: IO[str] | None = None,
    batch: int = INSTANCE_BATCH,
    limit: int | None = None,
) -> PruneReport:
    """Delete (or with `dry_run` count) finished instances that ended more than `finished_before` ago."""
    queryset = retention.finished_instances(
        finished_before=timezone.now() - finished_before, states=states, template=template
    )
    return retention.instances_prune(
        queryset,
        dry_run=dry_run,
        delete_audit_trail=delete_audit_trail,
        archive=archive,
        batch=batch,
        limit=limit,
    )


__all__ = ["INSTANCE_BATCH", "PruneReport", "instances_prune", "open_archive", "outbox_prune"]
