"""Who holds the roles: per-instance role assignments, and each template role's group and members.

A template role is held by the members of the group with the role's key as its name (admin → Groups);
a role assignment gives a role to a user or a group on one instance only. Granting and revoking one is
recorded in the instance's audit trail.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from engine.models import RoleAssignment, TemplateVersion, WorkflowInstance
from engine.roles import role_holdings
from engine.selectors import version_plan
from engine.services.roles import role_grant, role_revoke


class RoleAssignmentForm(forms.ModelForm):
    class Meta:
        model = RoleAssignment
        fields = ("instance", "role", "user", "group")
        help_texts = {
            "role": "A role key of the instance's template (its roles are listed on the template's page).",
            "user": "Give the role to this person on this instance…",
            "group": "…or to every member of this group.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Opened from an instance's page ("Give a role on this instance"): offer its template's roles to
        # pick from rather than a key to type. clean() still checks whatever arrives.
        instance = _instance_of(self.data.get("instance") or self.initial.get("instance"))
        if instance is not None:
            roles = version_plan(instance.version).roles
            self.fields["role"].widget = forms.Select(
                choices=[("", "—"), *((key, f"{name} ({key})") for key, name in roles.items())]
            )
            self.fields["role"].help_text = f"A role of {instance.template.key}."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance: WorkflowInstance | None = cleaned.get("instance")
        role = cleaned.get("role")
        if instance is not None and role:
            roles = version_plan(instance.version).roles
            if role not in roles:
                known = ", ".join(f"{key} ({name})" for key, name in roles.items()) or "none"
                self.add_error(
                    "role", f"The template {instance.template.key} has no role {role!r}; its roles: {known}."
                )
        if not cleaned.get("user") and not cleaned.get("group"):
            self.add_error("user", "Choose a person or a group.")
        if cleaned.get("user") and cleaned.get("group"):
            self.add_error("group", "Choose a person or a group, not both.")
        return cleaned


def _instance_of(value: Any) -> WorkflowInstance | None:
    if isinstance(value, WorkflowInstance):
        return value
    if not value:
        return None
    try:
        return WorkflowInstance.objects.select_related("version", "template").filter(pk=value).first()
    except (ValueError, ValidationError):  # not an instance id: the form's own validation says so
        return None


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(admin.ModelAdmin):
    form = RoleAssignmentForm
    list_display = ("instance", "role", "user", "group", "created_at")
    list_filter = ("role",)
    search_fields = ("role", "user__username", "group__name")
    raw_id_fields = ("instance",)  # filled in from the instance's page
    autocomplete_fields = ("user", "group")  # search by name: fine with many users, no ids to look up
    list_select_related = ("instance__template", "user", "group")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # grant a new one and revoke the old: each is one line in the audit trail

    def save_model(self, request: HttpRequest, obj: RoleAssignment, form: Any, change: bool) -> None:
        role_grant(assignment=obj, user=request.user)

    def delete_model(self, request: HttpRequest, obj: RoleAssignment) -> None:
        role_revoke(assignment=obj, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


def instance_role_assignments(instance: WorkflowInstance) -> str:
    """The instance page's list of who was given a role on it, with links to grant and revoke."""
    rows = RoleAssignment.objects.filter(instance=instance).select_related("user", "group")
    items = format_html_join(
        "",
        '<li>{}: {} <a href="{}">revoke…</a></li>',
        (
            (
                row.role,
                row.user.get_username() if row.user else f"group {row.group.name}" if row.group else "?",
                reverse("admin:engine_roleassignment_delete", args=[row.pk]),
            )
            for row in rows
        ),
    )
    add = reverse("admin:engine_roleassignment_add") + f"?instance={instance.pk}"
    roles = ", ".join(version_plan(instance.version).roles) or "none"
    return format_html(
        '<ul class="role-assignments">{}</ul><p><a class="addlink" href="{}">Give a role on this instance'
        '</a> <span class="help">(roles of this template: {})</span></p>',
        items or format_html("<li>{}</li>", "nobody has a role on this instance only"),
        add,
        roles,
    )


def template_role_members(version: TemplateVersion | None) -> str:
    """Each role of the template's newest version: its group, how many active members, which phases."""
    if version is None:
        return "—"
    rows = []
    for holding in role_holdings(version.definition):
        if holding.group_id:
            group = format_html(
                '<a href="{}">group {}</a>: {} active member(s)',
                reverse("admin:auth_group_change", args=[holding.group_id]),
                holding.key,
                holding.members,
            )
        else:
            group = format_html(
                'no group yet — <a href="{}?name={}">create the group {}</a>',
                reverse("admin:auth_group_add"),
                holding.key,
                holding.key,
            )
        warn = (
            format_html(' <strong class="errornote">nobody can claim {}</strong>', ", ".join(holding.phases))
            if (holding.phases and not holding.members)
            else ""
        )
        rows.append((holding.key, holding.name, group, warn))
    if not rows:
        return "this template has no roles"
    return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code> ({}): {}{}</li>", rows))
