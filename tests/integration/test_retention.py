"""Retention: delivered outbox events pruned by age in batches; finished instances pruned by a command."""

# ruff: noqa: F811  (pytest fixtures imported from test_human_helpers are parameters here)

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from engine.models import Comment, Event, PhaseRun, Transition, WorkflowInstance
from engine.models.webhooks import DeliveryState, Webhook, WebhookDelivery
from engine.runtime.actors import Actor
from engine.runtime.operations import cancel_instance
from engine.runtime.retention import outbox_prune, outbox_retention
from engine.tasks import outbox_prune as outbox_prune_task
from tests.support.human import dt_testing, start  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db
WEEK = timedelta(days=7)


def delivered(days_ago: float | None, n: int = 1) -> list[int]:
    """n outbox events delivered `days_ago` (None: not delivered yet)."""
    now = timezone.now()
    at = None if days_ago is None else now - timedelta(days=days_ago)
    events = Event.objects.bulk_create(
        Event(name="phase.completed", payload={}, delivered_at=at) for _ in range(n)
    )
    return [event.pk for event in events]


def test_outbox_prune_deletes_only_delivered_events_past_the_retention():
    old = delivered(10, 3)
    recent = delivered(2, 2)
    waiting = delivered(None, 2)
    assert outbox_prune(now=timezone.now(), older_than=WEEK) == 3
    left = set(Event.objects.values_list("pk", flat=True))
    assert left == set(recent) | set(waiting)
    assert not left & set(old)


def test_outbox_prune_works_in_bounded_batches():
    delivered(30, 7)
    assert outbox_prune(now=timezone.now(), older_than=WEEK, batch=2, max_batches=2) == 4
    assert Event.objects.count() == 3
    assert outbox_prune(now=timezone.now(), older_than=WEEK, batch=2, max_batches=10) == 3
    assert Event.objects.count() == 0


def test_outbox_prune_keeps_events_whose_webhook_deliveries_are_not_done():
    hook = Webhook.objects.create(
        name="crm", url="https://hooks.example.com/x", secret="s" * 32, events=["*"]
    )
    pending, failed, done = delivered(30, 3)
    WebhookDelivery.objects.create(webhook=hook, event_id=pending, state=DeliveryState.PENDING)
    WebhookDelivery.objects.create(webhook=hook, event_id=failed, state=DeliveryState.FAILED)
    WebhookDelivery.objects.create(webhook=hook, event_id=done, state=DeliveryState.DELIVERED)
    assert outbox_prune(now=timezone.now(), older_than=WEEK) == 1
    assert set(Event.objects.values_list("pk", flat=True)) == {pending, failed}
    assert not WebhookDelivery.objects.filter(event_id=done).exists()


def test_outbox_retention_comes_from_the_setting_and_zero_keeps_everything(settings):
    settings.PHASEGATE = {**settings.PHASEGATE, "OUTBOX_RETENTION": "PT12H"}
    assert outbox_retention() == timedelta(hours=12)
    delivered(1, 2)
    assert outbox_prune_task() == 2  # the task beat runs reads the setting
    settings.PHASEGATE = {**settings.PHASEGATE, "OUTBOX_RETENTION": "0"}
    assert outbox_retention() is None
    delivered(100, 2)
    assert outbox_prune_task() == 0
    assert Event.objects.count() == 2


# --- finished instances ---------------------------------------------------------------------------------


def finished(days_ago: float) -> WorkflowInstance:
    """A dt_testing instance cancelled `days_ago`, with a comment."""
    instance = start()
    cancel_instance(instance_id=instance.pk, actor=Actor.system("test"), reason="done with it")
    WorkflowInstance.objects.filter(pk=instance.pk).update(
        finished_at=timezone.now() - timedelta(days=days_ago)
    )
    Comment.objects.create(instance=instance, body="kept for the record")
    return instance


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_instances", *args, stdout=out)
    return out.getvalue()


def test_dry_run_counts_and_changes_nothing(dt_testing):
    old = [finished(200), finished(190)]
    finished(10)
    start()  # running: never a candidate
    before = (WorkflowInstance.objects.count(), PhaseRun.objects.count(), Transition.objects.count())
    output = prune("--finished-before", "P180D", "--dry-run", "--batch", "1")
    assert (WorkflowInstance.objects.count(), PhaseRun.objects.count(), Transition.objects.count()) == before
    runs = PhaseRun.objects.filter(instance__in=old).count()
    assert f"would delete 2 finished instance(s) of dt_testing in 2 batch(es): {runs} phase run(s)" in output
    assert "would be kept" in output


def test_prune_deletes_old_finished_instances_and_keeps_their_audit_trail(dt_testing, tmp_path):
    old = [finished(200), finished(190), finished(185)]
    recent = finished(10)
    running = start()
    trail = {instance.pk: Transition.objects.filter(instance_id=instance.pk).count() for instance in old}
    archive = tmp_path / "archive.jsonl.gz"
    output = prune("--finished-before", "P180D", "--batch", "2", "--archive", str(archive))
    assert "deleted 3 finished instance(s) of dt_testing in 2 batch(es)" in output
    assert set(WorkflowInstance.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not PhaseRun.objects.filter(instance_id__in=[i.pk for i in old]).exists()
    assert not Event.objects.filter(instance_id__in=[i.pk for i in old]).exists()
    assert not Comment.objects.filter(instance_id__in=[i.pk for i in old]).exists()
    for instance in old:  # the audit rows outlive the instance, still naming it
        assert Transition.objects.filter(instance_id=instance.pk).count() == trail[instance.pk] > 0
    with gzip.open(archive, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    assert sorted(r["instance"]["id"] for r in records) == sorted(str(i.pk) for i in old)
    first = records[0]
    assert first["instance"]["state"] == "cancelled"
    assert len(first["phase_runs"]) == 7
    assert any(t["name"] == "cancel" for t in first["transitions"])
    assert first["comments"][0]["body"] == "kept for the record"


def test_the_audit_trail_goes_only_when_asked(dt_testing):
    old = finished(400)
    output = prune("--finished-before", "P1D", "--delete-audit-trail", "--state", "cancelled")
    assert "deleted 1 finished instance(s)" in output and "audit row(s) deleted" in output
    assert not Transition.objects.filter(instance_id=old.pk).exists()


def test_state_template_and_limit_narrow_what_goes(dt_testing):
    finished(300), finished(300), finished(300)
    assert "deleted 0" in prune("--finished-before", "P1D", "--state", "completed")
    assert "deleted 0" in prune("--finished-before", "P1D", "--template", "market_daily")
    assert "deleted 2" in prune("--finished-before", "P1D", "--limit", "2")
    assert WorkflowInstance.objects.count() == 1


@pytest.mark.parametrize(
    "args", [["--finished-before", "6 months"], ["--finished-before", "P1D", "--batch", "0"]]
)
def test_bad_arguments_are_refused(args):
    with pytest.raises(CommandError):
        prune(*args)
