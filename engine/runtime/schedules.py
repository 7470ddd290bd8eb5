"""Schedules: save, pause, resume, and the beat sweep that fires due ticks.

Why the engine's own sweep and not django-celery-beat: a tick must start at most one instance even with
two beat processes, must skip non-workdays of a business calendar, must derive params and a business key
from the tick and apply an overlap policy. django-celery-beat would only replace the `next_run_at` column
and still fire once per beat process. Here each fired tick is a `ScheduleRun` row unique per
(schedule, tick), the schedule row is locked while it fires, and the business key comes from the tick, so
the idempotent start is a third guard. croniter computes the cron ticks.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from engine.definition.calendar import BusinessCalendar
from engine.errors import EngineError, ScheduleInvalid
from engine.models import (
    InstanceState,
    OverlapPolicy,
    Schedule,
    ScheduleRun,
    ScheduleRunOutcome,
    TemplateVersion,
    VersionState,
    WorkflowInstance,
)
from engine.models.states import UNFINISHED_INSTANCE_STATES
from engine.runtime.actors import Actor
from engine.runtime.clock import db_now
from engine.runtime.ticks import BadRule, TickRule

logger = logging.getLogger(__name__)

FIRE_BATCH = 100
MAX_BUSINESS_KEY = 200


def schedule_rule(schedule: Schedule) -> TickRule:
    """The timing of a schedule; its calendar, when empty, is the template's latest published one."""
    calendar_document = schedule.calendar or _template_calendar(schedule)
    try:
        calendar = BusinessCalendar.from_document(calendar_document)
    except (TypeError, ValueError) as exc:
        raise ScheduleInvalid(f"calendar: {exc}", field="calendar") from None
    interval = timedelta(seconds=schedule.interval_seconds) if schedule.interval_seconds else None
    return TickRule(
        cron=schedule.cron.strip(),
        interval=interval,
        timezone=schedule.timezone,
        business_days_only=schedule.business_days_only,
        calendar=calendar,
    )


def _template_calendar(schedule: Schedule) -> dict[str, Any] | None:
    version = (
        TemplateVersion.objects.filter(template_id=schedule.template_id, state=VersionState.PUBLISHED)
        .order_by("-number")
        .values_list("definition", flat=True)
        .first()
    )
    return version.get("calendar") if isinstance(version, dict) else None


def schedule_check(schedule: Schedule) -> TickRule:
    """Raise ScheduleInvalid, naming the field, when the schedule cannot work; return its rule."""
    rule = schedule_rule(schedule)
    try:
        rule.check()
    except BadRule as exc:
        raise ScheduleInvalid(str(exc), field=exc.field) from None
    if not isinstance(schedule.params, dict):
        raise ScheduleInvalid("params must be a JSON object", field="params")
    patterns = schedule.tick_params
    if not isinstance(patterns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in patterns.items()
    ):
        raise ScheduleInvalid("tick_params maps a param name to a strftime pattern", field="tick_params")
    if not schedule.business_key_pattern.strip():
        raise ScheduleInvalid("the business key pattern cannot be empty", field="business_key_pattern")
    if schedule.overlap not in OverlapPolicy.values:
        raise ScheduleInvalid(f"overlap is one of {', '.join(OverlapPolicy.values)}", field="overlap")
    return rule


def schedule_save(*, schedule: Schedule, now: datetime | None = None) -> Schedule:
    """Check and save a schedule; its next run is the first tick after now (unless it is paused)."""
    rule = schedule_check(schedule)
    now = now or db_now()
    schedule.next_run_at = None if schedule.paused else rule.next_after(now)
    schedule.save()
    return schedule


def schedule_pause(*, schedule_id: int) -> Schedule:
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule_id)
        schedule.paused, schedule.next_run_at = True, None
        schedule.save(update_fields=["paused", "next_run_at", "updated_at"])
        return schedule


def schedule_resume(*, schedule_id: int, now: datetime | None = None) -> Schedule:
    """Run again from the next tick after now: ticks missed while paused are not made up."""
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule_id)
        schedule.paused = False
        return schedule_save(schedule=schedule, now=now)


def schedule_upcoming(schedule: Schedule, count: int = 5) -> list[datetime]:
    """The next `count` run times, starting with the stored next run."""
    if schedule.paused or schedule.next_run_at is None:
        return []
    try:
        rule = schedule_check(schedule)
    except ScheduleInvalid:
        return []
    return [schedule.next_run_at, *rule.upcoming(schedule.next_run_at, count - 1)]


def tick_business_key(schedule: Schedule, tick: datetime) -> str:
    local = tick.astimezone(ZoneInfo(schedule.timezone))
    return f"{schedule.name}@{local.strftime(schedule.business_key_pattern)}"[:MAX_BUSINESS_KEY]


def tick_params(schedule: Schedule, tick: datetime) -> dict[str, Any]:
    local = tick.astimezone(ZoneInfo(schedule.timezone))
    derived = {name: local.strftime(pattern) for name, pattern in schedule.tick_params.items()}
    return {**schedule.params, **derived}


def schedules_fire(*, now: datetime | None = None) -> int:
    """Fire every due tick of unpaused schedules; return how many ticks fired (started, skipped or failed)."""
    now = now or db_now()
    due = list(
        Schedule.objects.filter(paused=False, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", flat=True)[:FIRE_BATCH]
    )
    return sum(1 for pk in due if schedule_fire(schedule_id=pk, now=now) is not None)


def schedule_fire(*, schedule_id: int, now: datetime) -> ScheduleRun | None:
    """Fire the schedule's due tick, once: None when it is not due or another process fired it."""
    with transaction.atomic():
        # Another beat process holding this row is firing the same tick: leave it to that one.
        schedule = (
            Schedule.objects.select_for_update(skip_locked=True)
            .select_related("template")
            .filter(pk=schedule_id, paused=False, next_run_at__lte=now)
            .first()
        )
        if schedule is None:
            return None
        tick = schedule.next_run_at
        assert tick is not None
        try:
            rule = schedule_check(schedule)
            following = rule.next_after(max(tick, now))  # ticks missed while beat was down are not made up
        except ScheduleInvalid as exc:
            logger.warning("schedule %s cannot compute its next tick: %s", schedule.name, exc.message)
            following = None
        schedule.next_run_at, schedule.last_run_at = following, now
        schedule.save(update_fields=["next_run_at", "last_run_at", "updated_at"])
        try:
            with transaction.atomic():
                run = ScheduleRun.objects.create(
                    schedule=schedule, tick=tick, outcome=ScheduleRunOutcome.STARTED
                )
        except IntegrityError:
            return None  # this tick was fired already
        _start_for_tick(schedule, run)
        return run


def _start_for_tick(schedule: Schedule, run: ScheduleRun) -> None:
    from engine.runtime.operations import cancel_instance
    from engine.runtime.start import start_instance

    actor = Actor.system(f"schedule:{schedule.name}")
    run.business_key = tick_business_key(schedule, run.tick)
    earlier = list(
        WorkflowInstance.objects.filter(
            schedule_runs__schedule=schedule, state__in=UNFINISHED_INSTANCE_STATES
        ).values_list("pk", flat=True)
    )
    try:
        with transaction.atomic():
            if earlier and schedule.overlap == OverlapPolicy.SKIP:
                run.outcome = ScheduleRunOutcome.SKIPPED
                run.message = f"{len(earlier)} earlier run(s) not finished"
            else:
                if schedule.overlap == OverlapPolicy.CANCEL_PREVIOUS:
                    for instance_id in earlier:
                        reason = (
                            f"schedule {schedule.name}: the tick of {run.tick:%Y-%m-%d %H:%M} UTC replaces it"
                        )
                        cancel_instance(instance_id=instance_id, actor=actor, reason=reason)
                instance = start_instance(
                    schedule.template.key,
                    params=tick_params(schedule, run.tick),
                    business_key=run.business_key,
                    version=schedule.version,
                    actor=actor,
                )
                run.instance = instance
                if instance.state not in (InstanceState.RUNNING, InstanceState.CREATED):
                    run.message = f"the instance is {instance.state}"
    except EngineError as exc:
        run.outcome, run.instance, run.message = ScheduleRunOutcome.FAILED, None, exc.message[:2000]
        logger.warning("schedule %s failed to start its tick %s: %s", schedule.name, run.tick, exc.message)
    run.save(update_fields=["outcome", "instance", "business_key", "message"])
