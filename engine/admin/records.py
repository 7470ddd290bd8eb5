"""Admin for records of what happened: audit rows, gate results, outbox events, dead letters."""

from __future__ import annotations

from django.contrib import admin

from engine.admin.common import ReadOnlyAdmin
from engine.models import DeadLetter, Event, GateResult, Transition


@admin.register(Transition)
class TransitionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "instance", "phase_id", "name", "source", "target", "actor_label", "reason")
    list_filter = ("name", "target")
    search_fields = ("instance__id", "phase_id", "actor_label", "reason")
    list_select_related = ("instance__template",)


@admin.register(GateResult)
class GateResultAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "instance", "phase_run", "passed", "action", "reason")
    list_filter = ("passed", "action")
    list_select_related = ("instance__template", "phase_run")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "instance", "created_at", "delivered_at", "attempts")
    list_filter = ("name",)
    list_select_related = ("instance__template",)


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "instance", "phase_id", "category", "message", "state")
    list_filter = ("state", "category")
    search_fields = ("phase_id", "message", "instance__id")
    list_select_related = ("instance__template",)
