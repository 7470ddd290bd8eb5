"""Schedules that start instances of a template on a cron expression or an interval."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from engine.models.instances import WorkflowInstance
from engine.models.templates import WorkflowTemplate


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip the tick while an earlier run is unfinished"
    ALLOW = "allow", "Start anyway"
    CANCEL_PREVIOUS = "cancel_previous", "Cancel unfinished earlier runs, then start"


class Schedule(models.Model):
    """Starts an instance of `template` at each tick; `next_run_at` is the next tick not yet fired (UTC)."""

    # What says when and how a schedule starts instances, besides its name, template and pause: the one list
    # the admin form, the API and `load_schedules` edit.
    TIMING_FIELDS = (
        "version",
        "cron",
        "interval_seconds",
        "timezone",
        "business_days_only",
        "calendar",
        "params",
        "tick_params",
        "business_key_pattern",
        "overlap",
    )

    name = models.SlugField(max_length=80, unique=True)
    template = models.ForeignKey(WorkflowTemplate, on_delete=models.PROTECT, related_name="schedules")
    version = models.PositiveIntegerField(
        null=True, blank=True, help_text="a pinned version; the latest published one when empty"
    )
    cron = models.CharField(
        max_length=120,
        blank=True,
        help_text="five-field cron expression in the time zone, e.g. 30 16 * * 1-5",
    )
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="instead of cron: a tick every this many seconds"
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone of the cron fields")
    business_days_only = models.BooleanField(
        default=False, help_text="skip ticks whose local date is not a workday of the calendar"
    )
    calendar = models.JSONField(
        default=dict,
        blank=True,
        help_text="workdays and holidays as in a template's \"calendar\"; empty: the template's own",
    )
    params = models.JSONField(default=dict, blank=True, help_text="start params of every run")
    tick_params = models.JSONField(
        default=dict,
        blank=True,
        help_text='params from the tick\'s local time: name -> strftime pattern, e.g. {"week": "%G-W%V"}',
    )
    business_key_pattern = models.CharField(
        max_length=120,
        default="%Y-%m-%dT%H:%M",
        help_text="strftime pattern of the tick's local time; the business key is '<name>@<pattern>'",
    )
    overlap = models.CharField(max_length=20, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    paused = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["next_run_at"], condition=Q(paused=False), name="schedule_due")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(interval_seconds__isnull=True) & ~Q(cron=""))
                | (Q(interval_seconds__isnull=False) & Q(cron="")),
                name="schedule_cron_or_interval",
            ),
        ]
        permissions = [("pause_schedule", "Can pause and resume schedules")]

    def __str__(self) -> str:
        return self.name


class ScheduleRunOutcome(models.TextChoices):
    STARTED = "started", "Started"
    SKIPPED = "skipped", "Skipped (an earlier run is unfinished)"
    FAILED = "failed", "Failed to start"


class ScheduleRun(models.Model):
    """One fired tick. Unique per (schedule, tick): two beat processes cannot both fire the same tick."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    tick = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=ScheduleRunOutcome.choices)
    instance = models.ForeignKey(
        WorkflowInstance, null=True, blank=True, on_delete=models.SET_NULL, related_name="schedule_runs"
    )
    business_key = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-tick"]
        constraints = [models.UniqueConstraint(fields=["schedule", "tick"], name="one_run_per_tick")]

    def __str__(self) -> str:
        return f"{self.schedule.name} @ {self.tick:%Y-%m-%d %H:%M} ({self.outcome})"
