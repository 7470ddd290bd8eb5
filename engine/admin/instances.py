"""Admin for instances: their phases and their audit trail, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from engine.admin.common import ReadOnlyInline, pretty_json
from engine.models import PhaseRun, Transition, WorkflowInstance


class PhaseRunInline(ReadOnlyInline):
    model = PhaseRun
    fields = ("phase_id", "phase_type", "state", "attempt", "assignee", "due_at", "sla_status", "next_run_at")
    readonly_fields = fields
    show_change_link = True


class TransitionInline(ReadOnlyInline):
    model = Transition
    fields = ("created_at", "phase_id", "name", "source", "target", "actor_label", "reason")
    readonly_fields = fields
    ordering = ("id",)
    verbose_name_plural = "audit trail"


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(admin.ModelAdmin):
    list_display = ("id", "template", "business_key", "state", "created_at", "finished_at")
    list_filter = ("state", "template")
    search_fields = ("id", "business_key", "template__key")
    readonly_fields = (
        "id",
        "template",
        "version",
        "business_key",
        "state",
        "started_by",
        "created_at",
        "started_at",
        "finished_at",
        "suspended_at",
        "suspended_seconds",
        "params_pretty",
        "error_pretty",
    )
    exclude = ("params", "error")
    inlines = [PhaseRunInline, TransitionInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("template", "version")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="params")
    def params_pretty(self, obj: WorkflowInstance) -> str:
        return pretty_json(obj.params)

    @admin.display(description="error")
    def error_pretty(self, obj: WorkflowInstance) -> str:
        return pretty_json(obj.error) if obj.error else "—"
