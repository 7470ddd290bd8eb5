"""Admin for records of what happened: audit rows, gate results, outbox events (dead letters: incidents)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from engine.admin.common import ReadOnlyAdmin
from engine.admin.lists import BigTableAdmin, as_uuid, exact_search, recent_values_filter
from engine.models import Event, GateResult, Transition


@admin.register(Transition)
class TransitionAdmin(BigTableAdmin, ReadOnlyAdmin):
    # instance_id, not the instance: rows of a pruned instance outlive it and must still be listed
    list_display = (
        "created_at",
        "instance_id",
        "phase_id",
        "name",
        "source",
        "target",
        "actor_label",
        "reason",
    )
    list_filter = (recent_values_filter("name"), recent_values_filter("target"))
    search_fields = ("instance__id",)
    search_help_text = "an instance id"
    ordering = ("-id",)

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        return exact_search(queryset, search_term, {"instance_id": as_uuid(search_term)}), False


@admin.register(GateResult)
class GateResultAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "instance", "phase_run", "passed", "action", "reason")
    list_filter = ("passed", "action")
    list_select_related = ("instance__template", "phase_run")


@admin.register(Event)
class EventAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = ("id", "name", "instance", "created_at", "delivered_at", "attempts")
    list_filter = (recent_values_filter("name"),)
    list_select_related = ("instance__template",)
    ordering = ("-id",)
