"""Retention: delivered outbox events pruned by age; finished instances removed by an operator, in batches.

The outbox is as large as the audit trail (one event per state change) and is only needed until it is
delivered: beat prunes delivered events older than `PHASEGATE_OUTBOX_RETENTION`, a bounded number of
batches per tick, each batch its own short transaction. Events whose webhook deliveries are still pending
or being retried stay.

Finished instances go only when an operator says so (`manage.py prune_instances`). Their audit trail is
kept unless the operator asks for it to go too: its rows hold the instance's id without a foreign-key
constraint, so they outlive the instance.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet

from engine.definition.durations import parse_duration
from engine.models import Comment, Event, PhaseRun, Transition, WorkflowInstance
from engine.models.states import FINISHED_INSTANCE_STATES
from engine.models.webhooks import DeliveryState, WebhookDelivery

OUTBOX_BATCH = 5_000
OUTBOX_MAX_BATCHES = 20  # per tick: 100,000 events at most, each batch a short transaction
INSTANCE_BATCH = 100


def outbox_retention() -> timedelta | None:
    """`PHASEGATE_OUTBOX_RETENTION` (ISO 8601, e.g. `P7D`); None when it is `0` (keep every event)."""
    text = settings.PHASEGATE["OUTBOX_RETENTION"]
    return None if text in ("", "0") else parse_duration(text)


def outbox_prune(
    *,
    now: datetime,
    older_than: timedelta | None,
    batch: int = OUTBOX_BATCH,
    max_batches: int = OUTBOX_MAX_BATCHES,
) -> int:
    """Delete events delivered before `now - older_than`, oldest first; the number deleted."""
    if older_than is None:
        return 0
    waiting = WebhookDelivery.objects.filter(state__in=[DeliveryState.PENDING, DeliveryState.FAILED])
    prunable = (
        Event.objects.filter(delivered_at__lt=now - older_than)
        .exclude(pk__in=waiting.values("event_id"))
        .order_by("delivered_at")
    )
    deleted = 0
    for _ in range(max_batches):
        ids = list(prunable.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        with transaction.atomic():
            WebhookDelivery.objects.filter(event_id__in=ids).delete()
            Event.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch:
            break
    return deleted


# --- finished instances ---------------------------------------------------------------------------------


@dataclass
class PruneReport:
    instances: int = 0
    phase_runs: int = 0
    events: int = 0
    audit_rows: int = 0  # deleted, or kept when the audit trail stays
    audit_kept: bool = True
    batches: int = 0
    template_keys: set[str] = field(default_factory=set)


def finished_instances(
    *, finished_before: datetime, states: list[str] | None = None, template: str = ""
) -> QuerySet[WorkflowInstance]:
    """Finished instances whose end is older than `finished_before`, oldest first (index on finished_at)."""
    wanted = [state for state in (states or FINISHED_INSTANCE_STATES) if state in FINISHED_INSTANCE_STATES]
    queryset = WorkflowInstance.objects.filter(state__in=wanted, finished_at__lt=finished_before)
    if template:
        queryset = queryset.filter(template__key=template)
    return queryset.order_by("finished_at", "pk")


def _archive_lines(ids: list[Any]) -> Iterator[str]:
    """One JSON object per instance: the instance, its phase runs, audit trail and comments."""
    runs: dict[Any, list[Mapping[str, Any]]] = {}
    for row in PhaseRun.objects.filter(instance_id__in=ids).order_by("position", "id").values():
        runs.setdefault(row["instance_id"], []).append(row)
    trail: dict[Any, list[Mapping[str, Any]]] = {}
    for row in Transition.objects.filter(instance_id__in=ids).order_by("id").values():
        trail.setdefault(row["instance_id"], []).append(row)
    notes: dict[Any, list[Mapping[str, Any]]] = {}
    for row in Comment.objects.filter(instance_id__in=ids).order_by("id").values():
        notes.setdefault(row["instance_id"], []).append(row)
    for instance in WorkflowInstance.objects.filter(pk__in=ids).order_by("finished_at", "pk").values():
        pk = instance["id"]
        record = {
            "instance": instance,
            "phase_runs": runs.get(pk, []),
            "transitions": trail.get(pk, []),
            "comments": notes.get(pk, []),
        }
        yield json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


def open_archive(path: Path) -> IO[str]:
    """Append to a JSON-lines archive, gzip-compressed when the name ends in `.gz`."""
    if path.suffix == ".gz":
        return gzip.open(path, "at", encoding="utf-8")
    return path.open("a", encoding="utf-8")


def instances_prune(
    queryset: QuerySet[WorkflowInstance],
    *,
    dry_run: bool,
    delete_audit_trail: bool = False,
    archive: IO[str] | None = None,
    batch: int = INSTANCE_BATCH,
    limit: int | None = None,
) -> PruneReport:
    """Delete the instances of `queryset` (with their runs, events, comments, …) batch by batch.

    A dry run counts what would go and changes nothing. The audit trail stays unless
    `delete_audit_trail`; with `archive`, each batch is written there before it is deleted.
    """
    report = PruneReport(audit_kept=not delete_audit_trail)
    after: tuple[Any, Any] | None = None
    while limit is None or report.instances < limit:
        page = queryset
        if after is not None:  # keyset: the batches of a dry run do not shift under it
            page = page.filter(finished_at__gte=after[0]).exclude(finished_at=after[0], pk__lte=after[1])
        size = batch if limit is None else min(batch, limit - report.instances)
        rows = list(page.values_list("pk", "finished_at", "template__key")[:size])
        if not rows:
            break
        ids = [pk for pk, _, _ in rows]
        after = (rows[-1][1], rows[-1][0])
        report.batches += 1
        report.instances += len(ids)
        report.template_keys |= {key for _, _, key in rows}
        report.phase_runs += PhaseRun.objects.filter(instance_id__in=ids).count()
        report.events += Event.objects.filter(instance_id__in=ids).count()
        report.audit_rows += Transition.objects.filter(instance_id__in=ids).count()
        if dry_run:
            continue
        if archive is not None:
            archive.writelines(_archive_lines(ids))
            archive.flush()
        with transaction.atomic():
            if delete_audit_trail:
                Transition.objects.filter(instance_id__in=ids).delete()
            WorkflowInstance.objects.filter(pk__in=ids).delete()
    return report
