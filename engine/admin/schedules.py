"""Admin for schedules: edit, pause/resume, see the next run times and the ticks fired."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from engine.admin.common import ReadOnlyInline
from engine.errors import ScheduleInvalid
from engine.models import Schedule, ScheduleRun
from engine.services.schedules import (
    schedule_check,
    schedule_pause,
    schedule_resume,
    schedule_save,
    schedule_upcoming,
)


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ("name", "template", *Schedule.TIMING_FIELDS, "paused")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = Schedule(**{name: cleaned.get(name) for name in self.Meta.fields if name in cleaned})
        candidate.calendar = candidate.calendar or {}
        candidate.params = candidate.params if candidate.params is not None else {}
        candidate.tick_params = candidate.tick_params or {}
        candidate.cron = candidate.cron or ""
        try:
            schedule_check(candidate)
        except ScheduleInvalid as exc:
            field = exc.extra.get("field")
            self.add_error(field if field in self.fields else None, exc.message)
        return cleaned


class ScheduleRunInline(ReadOnlyInline):
    model = ScheduleRun
    fields = ("tick", "outcome", "instance", "business_key", "message")
    readonly_fields = fields
    ordering = ("-tick",)
    max_num = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduleRun]:
        return super().get_queryset(request).select_related("instance__template")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = (
        "name",
        "template",
        "timing",
        "timezone",
        "overlap",
        "paused",
        "next_run_at",
        "last_run_at",
    )
    list_filter = ("paused", "template", "overlap")
    search_fields = ("name", "template__key")
    list_select_related = ("template",)
    readonly_fields = ("next_runs", "next_run_at", "last_run_at")
    inlines = (ScheduleRunInline,)
    actions = ("pause", "resume")

    @admin.display(description="when")
    def timing(self, schedule: Schedule) -> str:
        if schedule.cron:
            return f"cron {schedule.cron}" + (" (workdays)" if schedule.business_days_only else "")
        return f"every {schedule.interval_seconds} s"

    @admin.display(description="next run times")
    def next_runs(self, schedule: Schedule) -> str:
        ticks = schedule_upcoming(schedule, 5) if schedule.pk else []
        if not ticks:
            return "paused" if schedule.paused else "—"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((f"{t:%Y-%m-%d %H:%M} UTC",) for t in ticks))
        )

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        schedule_save(schedule=obj)

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("engine.pause_schedule")

    @admin.action(description="Pause the selected schedules", permissions=["pause"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            schedule_pause(schedule_id=pk)
        self.message_user(request, "Paused.", messages.SUCCESS)

    @admin.action(description="Resume the selected schedules (from their next tick)", permissions=["pause"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            schedule_resume(schedule_id=pk)
        self.message_user(request, "Resumed.", messages.SUCCESS)
