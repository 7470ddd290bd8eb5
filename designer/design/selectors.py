"""Reads for the designer: templates, their versions, and the activity picker, as plain JSON-ready dicts."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from engine.activities import registered_activities
from engine.models import TemplateVersion, VersionState, WorkflowTemplate

FORMAT = "phasegate/v1"


def blank_document(*, key: str = "", name: str = "") -> dict[str, Any]:
    """What a new template starts from: the required fields, no phases yet."""
    return {"format": FORMAT, "key": key, "name": name, "phases": []}


def template_versions(*, template: WorkflowTemplate) -> list[TemplateVersion]:
    """Every version of `template`, newest first, with the users the list shows."""
    return list(
        TemplateVersion.objects.filter(template=template)
        .select_related("template", "created_by", "published_by")
        .order_by("-number")
    )


def version_to_open(versions: list[TemplateVersion], *, number: int | None) -> TemplateVersion | None:
    """The version numbered `number`; without a number the draft, else the newest version."""
    if number is not None:
        return next((v for v in versions if v.number == number), None)
    return next((v for v in versions if v.state == VersionState.DRAFT), None) or next(iter(versions), None)


def _user(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _when(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def version_urls(version: TemplateVersion) -> dict[str, str]:
    return {
        "open": reverse(
            "admin:engine_workflowtemplate_design_version", args=[version.template_id, version.number]
        ),
        "publish": reverse("admin:engine_workflowtemplate_design_publish", args=[version.pk]),
        "draft": reverse("admin:engine_workflowtemplate_design_draft", args=[version.pk]),
        "export": reverse("admin:engine_workflowtemplate_design_export", args=[version.pk]),
        "compare": reverse("admin:engine_workflowtemplate_design_compare", args=[version.template_id])
        + f"?new={version.pk}",
    }


def version_payload(version: TemplateVersion) -> dict[str, Any]:
    """One row of the version list (no definition)."""
    return {
        "id": version.pk,
        "number": version.number,
        "state": version.state,
        "checksum": version.checksum,
        "notes": version.notes,
        "phases": version.phase_count,
        "created_by": _user(version.created_by),
        "created_at": _when(version.created_at),
        "published_by": _user(version.published_by),
        "published_at": _when(version.published_at),
        "retired_at": _when(version.retired_at),
        "urls": version_urls(version),
    }


def template_payload(template: WorkflowTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "key": template.key,
        "name": template.name,
        "urls": {
            "design": reverse("admin:engine_workflowtemplate_design", args=[template.pk]),
            "compare": reverse("admin:engine_workflowtemplate_design_compare", args=[template.pk]),
            "change": reverse("admin:engine_workflowtemplate_change", args=[template.pk]),
        },
    }


def activity_choices() -> list[dict[str, Any]]:
    """The registered activities for the picker, sorted by name, with their input and output schemas."""
    return [
        {
            "name": a.name,
            "description": a.description,
            "input_schema": dict(a.input_schema) if a.input_schema else None,
            "output_schema": dict(a.output_schema) if a.output_schema else None,
        }
        for a in registered_activities().values()
    ]


def template_choices_published() -> list[dict[str, Any]]:
    """The published templates a sub-workflow phase may call, with their version numbers (newest first)."""
    rows = (
        TemplateVersion.objects.filter(state=VersionState.PUBLISHED)
        .order_by("template__key", "-number")
        .values_list("template__key", "template__name", "number")
    )
    found: dict[str, dict[str, Any]] = {}
    for key, name, number in rows:
        found.setdefault(key, {"key": key, "name": name, "versions": []})["versions"].append(number)
    return list(found.values())


def template_exists(*, key: Any) -> bool:
    return isinstance(key, str) and WorkflowTemplate.objects.filter(key=key).exists()
