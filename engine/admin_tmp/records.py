"""The Django admin: templates and versions, instances with their audit trail (read-only), dead letters."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from engine.errors import EngineError, TemplateInvalid
from engine.models import (
    DeadLetter,
    Event,
    GateResult,
    PhaseRun,
    TemplateVersion,
    Transition,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.services import templates as template_services


def pretty_json(value: Any) -> str:
    """Indented JSON in a <pre>, escaped: a template's text is never trusted as HTML."""
    return format_html(
        '<pre class="pg-json">{}</pre>', json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)
    )


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VersionInline(ReadOnlyInline):
    model = TemplateVersion
    fields = ("number", "state", "checksum", "created_by", "published_by", "published_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "latest_published", "updated_at")
    search_fields = ("key", "name")
    readonly_fields = ("created_at", "updated_at")
    inlines = [VersionInline]

    @admin.display(description="latest published")
    def latest_published(self, obj: WorkflowTemplate) -> str:
        version = obj.versions.filter(state="published").order_by("-number").first()
        return f"v{version.number}" if version else "—"


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    list_display = ("template", "number", "state", "short_checksum", "phases", "published_by", "published_at")
    list_filter = ("state", "template")
    search_fields = ("template__key", "checksum")
    actions = ["publish_versions", "retire_versions"]
    fields = (
        "template",
        "number",
        "state",
        "checksum",
        "schema_version",
        "notes",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
        "retired_at",
        "definition_pretty",
    )
    readonly_fields = (
        "template",
        "number",
        "state",
        "checksum",
        "schema_version",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
        "retired_at",
        "definition_pretty",
    )

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("template", "published_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from the designer, load_templates or the API, all of which validate

    @admin.display(description="checksum")
    def short_checksum(self, obj: TemplateVersion) -> str:
        return obj.checksum[:12]

    @admin.display(description="phases")
    def phases(self, obj: TemplateVersion) -> int:
        return obj.phase_count

    @admin.display(description="definition")
    def definition_pretty(self, obj: TemplateVersion) -> str:
        return pretty_json(obj.definition)

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("engine.publish_templateversion")

    def has_retire_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("engine.retire_templateversion")

    @admin.action(description="Publish selected drafts", permissions=["publish"])
    def publish_versions(self, request: HttpRequest, queryset: Any) -> None:
        for version in queryset:
            try:
                template_services.template_version_publish(version_id=version.pk, user=request.user)
            except TemplateInvalid as exc:
                listed = "; ".join(f"{p.path or '/'}: {p.code}: {p.message}" for p in exc.problems[:10])
                self.message_user(request, f"{version} not published: {listed}", messages.ERROR)
            except EngineError as exc:
                self.message_user(request, f"{version}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{version.template.key} v{version.number} published", messages.SUCCESS
                )

    @admin.action(description="Retire selected published versions", permissions=["retire"])
    def retire_versions(self, request: HttpRequest, queryset: Any) -> None:
        for version in queryset:
            try:
                template_services.template_version_retire(version_id=version.pk, user=request.user)
            except EngineError as exc:
                self.message_user(request, f"{version}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{version.template.key} v{version.number} retired", messages.SUCCESS
                )


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: nobody edits or deletes them from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
