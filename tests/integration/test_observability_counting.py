"""The dashboard's hourly counts: stored hours give the figures a direct count gives, recounts replace."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.test.utils import CaptureQueriesContext

from engine import tasks
from engine.models import CountedHour, DeadLetter, HourlyCount, ItemRun, PhaseRun, WorkflowInstance
from engine.models.templates import TemplateVersion
from engine.observability import counting, figures
from engine.services.figures import figures_backfill
from tests.support.engine import publish, template
from tests.support.seed import seed

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 10, 20, tzinfo=UTC)
RANGE_FIGURES = (
    "instances_by_state",
    "throughput_per_hour",
    "phase_durations",
    "failures_by_category",
    "retries",
)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def range_figures(range_name: str, template: str | None = None) -> dict:
    scope = figures.Scope.parse(range_name=range_name, template_key=template, now=NOW)
    data = figures.dashboard(scope, now=NOW)
    return {name: data[name] for name in RANGE_FIGURES}


def backfill() -> int:
    return sum(len(hours) for hours in figures_backfill())


def stored() -> set[tuple]:
    return set(HourlyCount.objects.values_list("hour", "template_id", "phase_id", "figure", "label", "value"))


def busy_dataset(instances: int = 40) -> None:
    """`instances` runs of a five-phase template, finished over the last three days with durations from
    a second to three hours, every seventh with retries, every eleventh with a dead letter."""
    publish(
        template(
            "busy",
            *({"id": f"p{i}", "type": "task", "activity": "test.echo"} for i in range(5)),
        )
    )
    version = TemplateVersion.objects.get(template__key="busy", number=1)
    for n in range(instances):
        finished = NOW - timedelta(minutes=37 * n + 3)
        owner = WorkflowInstance.objects.create(
            template=version.template, version=version, state="completed" if n % 5 else "failed", params={}
        )
        WorkflowInstance.objects.filter(pk=owner.pk).update(
            created_at=finished - timedelta(hours=10), finished_at=finished
        )
        for i in range(5):
            seconds = 1.3 ** ((n * 7 + i * 3) % 40)  # 1 s … about 9 h, spread over many buckets
            run = PhaseRun.objects.create(
                instance=owner,
                phase_id=f"p{i}",
                phase_type="task",
                position=i,
                state="completed" if (n + i) % 9 else "failed",
            )
            PhaseRun.objects.filter(pk=run.pk).update(
                started_at=finished - timedelta(seconds=seconds),
                finished_at=finished - timedelta(seconds=i),
                attempt=3 if n % 7 == 0 else 1,
            )
            if (n + i) % 11 == 0:
                letter = DeadLetter.objects.create(
                    instance=owner, phase_run=run, phase_id=run.phase_id, category="data", message="x"
                )
                DeadLetter.objects.filter(pk=letter.pk).update(created_at=finished)


@pytest.mark.parametrize("range_name", ["24h", "7d"])
def test_stored_hours_give_the_figures_counted_live(range_name: str) -> None:
    seed(NOW)
    busy_dataset()
    live, live_busy = range_figures(range_name), range_figures(range_name, "busy")
    assert not CountedHour.objects.exists()
    assert backfill() > 0 and HourlyCount.objects.exists()
    assert range_figures(range_name) == live
    assert range_figures(range_name, "busy") == live_busy


def test_stored_figures_equal_a_direct_count_of_the_rows() -> None:
    busy_dataset()
    backfill()
    data = range_figures("7d", "busy")
    since = NOW - timedelta(days=7)
    finished = PhaseRun.objects.filter(finished_at__gte=since, instance__template__key="busy")
    per_hour = {
        row["h"].astimezone(UTC).isoformat(): row["n"]
        for row in finished.filter(state="completed")
        .annotate(h=TruncHour("finished_at", tzinfo=UTC))
        .values("h")
        .annotate(n=Count("pk"))
    }
    assert {
        hour["hour"]: hour["phases_completed"]
        for hour in data["throughput_per_hour"]
        if hour["phases_completed"]
    } == per_hour
    assert data["retries"]["total"] == sum(run.attempt - 1 for run in finished if run.attempt > 1)
    assert data["failures_by_category"] == {"data": DeadLetter.objects.count()}
    assert data["instances_by_state"]["failed"] == WorkflowInstance.objects.filter(state="failed").count()
    for row in data["phase_durations"]:
        seconds = sorted(
            (run.finished_at - run.started_at).total_seconds()
            for run in finished.filter(phase_id=row["phase"], state="completed")
        )
        assert row["count"] == len(seconds)
        for fraction in (0.5, 0.95):
            # the rank Prometheus interpolates at; the estimate lies within that value's bucket
            exact = seconds[math.ceil(fraction * len(seconds)) - 1]
            lower, upper = counting.bucket_bounds(exact)
            assert lower <= row[f"p{round(fraction * 100)}"] <= upper, (row, exact)


def test_a_recount_replaces_the_hour() -> None:
    busy_dataset()
    backfill()
    before = stored()
    hour = counting.floor_hour(NOW) - 5 * counting.HOUR
    counting.hour_count(hour, now=NOW)
    counting.hour_count(hour, now=NOW)
    assert stored() == before
    assert CountedHour.objects.filter(hour=hour).count() == 1


def test_work_that_finished_late_is_picked_up_by_the_next_run() -> None:
    busy_dataset(instances=3)
    backfill()
    hour = counting.floor_hour(NOW) - counting.HOUR
    before = range_figures("24h", "busy")["throughput_per_hour"]
    # a transaction that committed after its hour was counted: the row finished within that hour
    owner = WorkflowInstance.objects.filter(template__key="busy").first()
    late = PhaseRun.objects.create(instance=owner, phase_id="late", phase_type="task", state="completed")
    PhaseRun.objects.filter(pk=late.pk).update(started_at=hour, finished_at=hour + timedelta(minutes=10))
    assert range_figures("24h", "busy")["throughput_per_hour"] == before
    assert tasks.figures_count() == counting.RECOUNT_HOURS
    [row] = [
        row for row in range_figures("24h", "busy")["throughput_per_hour"] if row["hour"] == hour.isoformat()
    ]
    [old] = [row for row in before if row["hour"] == hour.isoformat()]
    assert row["phases_completed"] == old["phases_completed"] + 1


def test_an_hour_not_counted_yet_is_counted_live() -> None:
    busy_dataset()
    backfill()
    live_before = range_figures("7d")
    gap = counting.floor_hour(NOW) - 30 * counting.HOUR
    CountedHour.objects.filter(hour=gap).delete()
    HourlyCount.objects.filter(hour=gap).delete()
    assert range_figures("7d") == live_before


def test_the_open_hour_is_never_stored() -> None:
    with pytest.raises(ValueError, match="not closed yet"):
        counting.hour_count(counting.floor_hour(NOW), now=NOW)


def test_the_queries_of_a_range_do_not_grow_with_its_rows() -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            range_figures("7d")
        return len(captured)

    busy_dataset(instances=5)
    backfill()
    few = queries()
    busy_dataset_more()
    assert tasks.figures_count() >= counting.RECOUNT_HOURS
    call_command("backfill_metrics", "--recount", "--since", (NOW - timedelta(days=8)).isoformat())
    assert PhaseRun.objects.count() >= 200
    assert queries() == few


def busy_dataset_more() -> None:
    version = TemplateVersion.objects.get(template__key="busy", number=1)
    for n in range(40):
        owner = WorkflowInstance.objects.create(
            template=version.template, version=version, state="running", params={}
        )
        for i in range(5):
            run = PhaseRun.objects.create(
                instance=owner, phase_id=f"p{i}", phase_type="task", state="completed"
            )
            finished = NOW - timedelta(hours=n + 2)
            PhaseRun.objects.filter(pk=run.pk).update(
                started_at=finished - timedelta(seconds=n), finished_at=finished
            )


def test_beat_backfills_in_bounded_batches_and_the_command_finishes_the_job(capsys) -> None:
    busy_dataset()
    first = WorkflowInstance.objects.order_by("created_at").first()
    assert first is not None
    closed = int((counting.floor_hour(NOW) - counting.floor_hour(first.created_at)) / counting.HOUR)
    assert tasks.figures_count() == counting.RECOUNT_HOURS + min(counting.BACKFILL_BATCH, closed - 2)
    call_command("backfill_metrics", "--batch", "5")
    assert CountedHour.objects.count() == closed
    assert "hours counted" in capsys.readouterr().out
    assert tasks.figures_count() == counting.RECOUNT_HOURS  # nothing older left


def test_the_count_runs_on_beat_in_the_sweeps_queue() -> None:
    [entry] = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "engine.tasks.figures_count"
    ]
    assert entry["schedule"] <= timedelta(minutes=5)
    assert settings.CELERY_TASK_ROUTES["engine.tasks.figures_count"] == {
        "queue": settings.PHASEGATE_SWEEP_QUEUE
    }


def test_map_items_retries_count_under_their_phase() -> None:
    busy_dataset(instances=1)
    run = PhaseRun.objects.get(phase_id="p2")
    item = ItemRun.objects.create(phase_run=run, instance=run.instance, index=0, state="completed")
    ItemRun.objects.filter(pk=item.pk).update(attempt=4, finished_at=NOW - timedelta(hours=2))
    live = range_figures("24h")["retries"]
    backfill()
    assert range_figures("24h")["retries"] == live
    assert {"template": "busy", "phase": "p2", "retries": 2 + 3} in live[
        "by_phase"
    ]  # the phase's and the item's


def test_quantile_interpolates_within_the_bucket() -> None:
    assert counting.quantile({}, 0.5) == 0.0
    assert counting.quantile({"10": 1, "100": 1}, 0.5) == 10.0  # the first bucket's upper bound
    assert counting.quantile({"100": 4}, 0.5) == 84.0  # halfway through (68, 100]
    assert counting.quantile({counting.INF: 3}, 0.95) == counting.BOUNDS[-1]
    assert counting.bucket_bounds(30) == (22.0, 33.0)
    assert all(b / a <= 1.5 + 1e-9 for a, b in zip(counting.BOUNDS, counting.BOUNDS[1:], strict=False))


def test_a_span_counted_at_once_stores_what_its_hours_counted_one_by_one() -> None:
    busy_dataset()
    end = counting.floor_hour(NOW)
    start = end - 48 * counting.HOUR
    counting.span_count(start, end, now=NOW)
    at_once = stored()
    HourlyCount.objects.all().delete()
    for k in range(48):
        counting.hour_count(start + k * counting.HOUR, now=NOW)
    assert stored() == at_once and len(at_once) > 48
    assert CountedHour.objects.count() == 48


def test_spans_group_consecutive_hours_newest_first() -> None:
    h = counting.floor_hour(NOW)
    hour = counting.HOUR
    assert counting.spans([h - hour, h - 2 * hour, h - 5 * hour]) == [
        (h - 2 * hour, h),
        (h - 5 * hour, h - 4 * hour),
    ]
