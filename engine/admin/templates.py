"""Admin for templates and their versions: publish and retire as actions, definitions read-only.

Templates are drawn, validated, published and compared in the browser designer, an app of its own
(`designer`) that registers its pages on top of these admins (`designer/admin.py`); this module knows
nothing of it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from engine import access
from engine.admin.common import ReadOnlyInline, pretty_json
from engine.errors import EngineError, TemplateInvalid
from engine.models import TemplateVersion, VersionChange, WorkflowTemplate
from engine.roles import unheld_roles
from engine.services import templates as template_services


class VersionInline(ReadOnlyInline):
    model = TemplateVersion
    fields = ("number", "state", "checksum", "created_by", "published_by", "published_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "latest_published", "updated_at")
    search_fields = ("key", "name")
    readonly_fields = ("created_at", "updated_at", "roles_and_members")
    inlines = [VersionInline]

    @admin.display(description="roles and who holds them")
    def roles_and_members(self, obj: WorkflowTemplate) -> str:
        from engine.admin.roles import template_role_members

        return template_role_members(obj.versions.order_by("-number").first())

    @admin.display(description="latest published")
    def latest_published(self, obj: WorkflowTemplate) -> str:
        version = obj.versions.filter(state="published").order_by("-number").first()
        return f"v{version.number}" if version else "—"


class VersionChangeInline(ReadOnlyInline):
    """The version's audit trail: who published or retired it, when and why."""

    model = VersionChange
    fields = ("created_at", "name", "source", "target", "actor_label", "reason")
    readonly_fields = fields


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    inlines = [VersionChangeInline]
    list_display = (
        "template",
        "number",
        "state",
        "short_checksum",
        "phases",
        "published_by",
        "published_at",
    )
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
        return access.may_publish(request.user)

    def has_retire_permission(self, request: HttpRequest) -> bool:
        return access.may_retire(request.user)

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
                for warning in unheld_roles(version.definition):
                    self.message_user(
                        request, f"{version.template.key}: {warning['message']}", messages.WARNING
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
