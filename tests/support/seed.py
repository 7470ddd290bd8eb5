"""A small dataset with known figures, written straight to the tables (times chosen, not waited for)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.models import (
    DeadLetter,
    PhaseRun,
    TemplateVersion,
    WorkflowInstance,
    WorkflowTemplate,
)
from tests.support.engine import publish, template

KEY = "seeded"


@dataclass
class Seeded:
    now: datetime
    template: WorkflowTemplate


def seed(now: datetime) -> Seeded:
    """Within the last 24 h: 2 completed instances, 1 failed, 3 running, 1 suspended; one 3 days ago.

    Phase `fetch` completed five times in range, in 10, 20, 30, 40 and 100 s (p50 30, p95 88), one of them
    after 3 attempts (2 retries); `review` is open on four instances: on_schedule, at_risk, behind_schedule
    and without an SLA. Dead letters: open `data` and `transient` in range, a discarded `system` one 3 days
    ago. One `fetch` attempt holds a lease that expired 30 s ago; one waits ready for 120 s.
    """
    publish(
        template(
            KEY,
            {"id": "fetch", "type": "task", "activity": "test.echo"},
            {"id": "review", "type": "human", "roles": ["reviewer"], "depends_on": ["fetch"]},
            roles={"reviewer": {"name": "Reviewer"}},
        )
    )
    tpl = WorkflowTemplate.objects.get(key=KEY)
    version = TemplateVersion.objects.get(template=tpl, number=1)
    hour = timedelta(hours=1)

    def instance(state: str, *, finished: datetime | None = None) -> WorkflowInstance:
        created = WorkflowInstance.objects.create(template=tpl, version=version, state=state, params={})
        WorkflowInstance.objects.filter(pk=created.pk).update(
            created_at=(finished or now) - hour, started_at=(finished or now) - hour, finished_at=finished
        )
        return created

    done_1 = instance("completed", finished=now - hour)
    done_2 = instance("completed", finished=now - 3 * hour)
    failed = instance("failed", finished=now - 2 * hour)
    running = instance("running")
    suspended = instance("suspended")
    old = instance("completed", finished=now - timedelta(days=3))
    extra_1 = instance("running")
    extra_2 = instance("running")

    def run(owner: WorkflowInstance, phase: str, state: str, **fields: object) -> PhaseRun:
        kind = "task" if phase == "fetch" else "human"
        created = PhaseRun.objects.create(
            instance=owner, phase_id=phase, phase_type=kind, position=0 if kind == "task" else 1, state=state
        )
        extra = {key: value for key, value in fields.items() if key == "updated_at"}
        PhaseRun.objects.filter(pk=created.pk).update(**{k: v for k, v in fields.items() if k not in extra})
        if extra:
            PhaseRun.objects.filter(pk=created.pk).update(**extra)
        return created

    for owner, seconds, attempts in (
        (done_1, 10, 1),
        (done_2, 20, 1),
        (failed, 30, 3),
        (running, 40, 1),
        (suspended, 100, 1),
    ):
        finished = WorkflowInstance.objects.get(pk=owner.pk).finished_at or now - 2 * hour
        run(
            owner,
            "fetch",
            "completed",
            started_at=finished - timedelta(seconds=seconds),
            finished_at=finished,
            attempt=attempts,
        )
    run(old, "fetch", "completed", started_at=now - timedelta(days=3, seconds=500),
        finished_at=now - timedelta(days=3), attempt=5)  # fmt: skip
    run(extra_1, "fetch", "active", lease_expires_at=now - timedelta(seconds=30), attempt=1)
    run(extra_2, "fetch", "ready", updated_at=now - timedelta(seconds=120))
    for owner, status in (
        (running, "on_schedule"),
        (suspended, "at_risk"),
        (done_1, "behind_schedule"),
        (done_2, ""),
    ):
        run(owner, "review", "active", sla_status=status, due_at=now + hour if status else None)

    failed_run = PhaseRun.objects.get(instance=failed, phase_id="fetch")
    for category, created, state in (
        ("data", now - hour, "open"),
        ("transient", now - 2 * hour, "open"),
        ("system", now - timedelta(days=3), "discarded"),
    ):
        letter = DeadLetter.objects.create(
            instance=failed,
            phase_run=failed_run,
            phase_id="fetch",
            category=category,
            message="x",
            state=state,
        )
        DeadLetter.objects.filter(pk=letter.pk).update(created_at=created)
    return Seeded(now=now, template=tpl)
