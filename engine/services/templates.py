"""Template versions: save a draft, publish, retire, load from files, export, compare.

A published definition never changes: edits always go to the template's one draft, which becomes a new
version number when it is published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max

from engine import access
from engine.activities import activity_names
from engine.definition.canonical import checksum
from engine.definition.composition import calls
from engine.definition.diff import TemplateDiff, diff_templates
from engine.definition.problems import Problem
from engine.definition.validation import sort_problems, validate
from engine.errors import Conflict, NotFound, TemplateInvalid, TransitionRejected
from engine.models import Event, TemplateVersion, VersionChange, VersionState, WorkflowTemplate


def template_validate(document: Any) -> list[Problem]:
    """Validate against the contract, the activities registered in this process and the published templates
    (which sub-workflows may call)."""
    problems = validate(document, activities=activity_names(), templates=published_template_calls())
    return problems or sort_problems(activity_input_problems(document))


def activity_input_problems(document: Any) -> list[Problem]:
    """`activity_input`: a phase's `input` mapping leaves out a field its activity's `input_schema`
    requires, or names one the schema does not allow. Only for activities that registered a schema, and
    only on an otherwise valid document (the mapping's values are expressions, checked at run time)."""
    from engine.activities import registered_activities

    registry = registered_activities()
    problems: list[Problem] = []
    if not isinstance(document, dict):
        try:
            document = json.loads(document)
        except (TypeError, ValueError):
            return []
    for index, phase in enumerate(document.get("phases") or []):
        activity = registry.get(phase.get("activity") or "") if isinstance(phase, dict) else None
        if activity is None or not activity.input_schema:
            continue
        schema = activity.input_schema
        given = set((phase.get("input") or {}).keys())
        where = f"/phases/{index}/input"
        missing = [name for name in schema.get("required", []) if name not in given]
        if missing:
            problems.append(
                Problem(where, "activity_input", f"{activity.name} needs the input {', '.join(missing)}")
            )
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is False:
            unknown = sorted(given - set(properties))
            if unknown:
                problems.append(
                    Problem(
                        where,
                        "activity_input",
                        f"{activity.name} takes no input {', '.join(unknown)}; it takes "
                        f"{', '.join(properties) or 'nothing'}",
                    )
                )
    return problems


def published_template_calls() -> dict[str, dict[int, tuple[str, ...]]]:
    """Each published template key -> {version number: the template keys that version calls}."""
    published: dict[str, dict[int, tuple[str, ...]]] = {}
    rows = TemplateVersion.objects.filter(state=VersionState.PUBLISHED).values_list(
        "template__key", "number", "definition"
    )
    for key, number, definition in rows.iterator():
        published.setdefault(key, {})[number] = calls(definition)
    return published


def _template_for(document: Any, problems: list[Problem]) -> WorkflowTemplate:
    """The template a document belongs to, locked; refuse a document whose key itself is unusable."""
    fatal = [p for p in problems if p.path in ("/key", "") or p.code == "too_large"]
    if fatal or not isinstance(document, dict) or not isinstance(document.get("key"), str):
        raise TemplateInvalid(fatal or [Problem("/key", "schema", "a template needs a valid key")])
    template, _ = WorkflowTemplate.objects.get_or_create(
        key=document["key"], defaults={"name": str(document.get("name") or document["key"])[:200]}
    )
    return WorkflowTemplate.objects.select_for_update().get(pk=template.pk)


@dataclass(frozen=True)
class SavedDraft:
    version: TemplateVersion
    problems: list[Problem]
    created: bool


_UNCHECKED = object()


def template_draft_save(
    *, document: dict[str, Any], user: Any = None, notes: str = "", base_checksum: Any = _UNCHECKED
) -> SavedDraft:
    """Save `document` as the template's draft (creating the template and the draft as needed).

    A draft may have problems; they are returned, and publishing refuses it until they are fixed. Only a
    document too broken to know which template it belongs to is refused outright.

    `base_checksum` is the checksum of the draft the editor started from (None for a new template); when
    given, the save is refused with Conflict if the draft changed since, so nobody overwrites another's edits.
    """
    problems = template_validate(document)
    with transaction.atomic():
        template = _template_for(document, problems)
        draft = TemplateVersion.objects.filter(template=template, state=VersionState.DRAFT).first()
        current = draft.checksum if draft is not None else None
        if base_checksum is not _UNCHECKED and current is not None and current != base_checksum:
            editor = draft.created_by.get_username() if draft.created_by else "someone"
            raise Conflict(
                f"draft v{draft.number} of {template.key} changed since you opened it; reload it to see "
                f"the changes (it was started by {editor})",
                draft=draft.number,
            )
        digest = checksum(document)
        if draft is not None:
            draft.definition, draft.checksum = document, digest
            draft.notes = notes or draft.notes
            draft.save()
            return SavedDraft(draft, problems, created=False)
        number = (TemplateVersion.objects.filter(template=template).aggregate(n=Max("number"))["n"] or 0) + 1
        draft = TemplateVersion.objects.create(
            template=template,
            number=number,
            definition=document,
            checksum=digest,
            schema_version=str(document.get("format", "phasegate/v1")),
            created_by=user,
            notes=notes,
        )
        return SavedDraft(draft, problems, created=True)


def _audit(version: TemplateVersion, name: str, *, source: str, user: Any, reason: str) -> None:
    """The version's audit row and its outbox event, in the transaction of the change, like every
    other transition (the event has no instance: webhooks receive it as `template_version.<name>`)."""
    label = user.get_username() if user is not None else "system:files"
    VersionChange.objects.create(
        version=version,
        name=name,
        source=source,
        target=version.state,
        actor=user,
        actor_label=label,
        reason=reason,
    )
    payload = {
        "template": version.template.key,
        "version": version.number,
        "checksum": version.checksum,
        "source": source,
        "target": version.state,
        "actor": label,
        "reason": reason,
    }
    Event.objects.create(name=f"template_version.{name}", payload=payload)


def template_version_publish(*, version_id: int, user: Any = None, reason: str = "") -> TemplateVersion:
    """Publish a draft after validating it again; refuse it with every problem if it is invalid.

    `user` must be allowed to publish (`engine.access.may_publish`); None is the engine itself (files).
    """
    if user is not None:
        access.require_publish(user)
    with transaction.atomic():
        version = TemplateVersion.objects.select_for_update().select_related("template").get(pk=version_id)
        if version.state != VersionState.DRAFT:
            raise TransitionRejected(f"{version} is {version.state}; only a draft can be published")
        problems = template_validate(version.definition)
        if problems:
            raise TemplateInvalid(problems)
        version.publish(by=user)
        version.save()
        _audit(version, "publish", source=VersionState.DRAFT, user=user, reason=reason)
        template = version.template
        template.name = str(version.definition.get("name") or template.key)[:200]
        template.description = str(version.definition.get("description") or "")
        template.save(update_fields=["name", "description", "updated_at"])
        return version


def template_version_retire(*, version_id: int, user: Any = None, reason: str = "") -> TemplateVersion:
    """Retire a published version: it starts no new instances; running ones go on."""
    if user is not None:
        access.require_retire(user)
    with transaction.atomic():
        version = TemplateVersion.objects.select_for_update().select_related("template").get(pk=version_id)
        if version.state != VersionState.PUBLISHED:
            raise TransitionRejected(f"{version} is {version.state}; only a published version can be retired")
        version.retire()
        version.save()
        _audit(version, "retire", source=VersionState.PUBLISHED, user=user, reason=reason)
        return version


def template_version_draft_from(*, version_id: int, user: Any = None) -> TemplateVersion:
    """Start editing a frozen version: its document becomes the template's draft (or replaces the draft)."""
    source = TemplateVersion.objects.get(pk=version_id)
    return template_draft_save(document=source.definition, user=user, notes=f"from v{source.number}").version


@dataclass(frozen=True)
class Loaded:
    version: TemplateVersion
    created: bool
    published: bool


def template_load(*, document: Any, user: Any = None, publish: bool = False) -> Loaded:
    """Load a document from a file: a new version only when the content changed; optionally publish it."""
    problems = template_validate(document)
    if problems:
        raise TemplateInvalid(problems)
    digest = checksum(document)
    with transaction.atomic():
        same = (
            TemplateVersion.objects.filter(template__key=document["key"], checksum=digest)
            .order_by("-number")
            .first()
        )
        created = same is None
        version = same or template_draft_save(document=document, user=user, notes="loaded from file").version
        published = False
        if publish and version.state == VersionState.DRAFT:
            version = template_version_publish(version_id=version.pk, user=user)
            published = True
        return Loaded(version, created=created, published=published)


def template_export(*, key: str, number: int | None = None) -> dict[str, Any]:
    """The definition of a version (the latest published, else the latest) as loaded."""
    versions = TemplateVersion.objects.filter(template__key=key)
    if number is not None:
        version = versions.filter(number=number).first()
    else:
        version = (
            versions.filter(state=VersionState.PUBLISHED).order_by("-number").first()
            or versions.order_by("-number").first()
        )
    if version is None:
        raise NotFound(f"no version of template {key!r}" + (f" numbered {number}" if number else ""))
    return version.definition


def template_version_compare(*, old_id: int, new_id: int) -> TemplateDiff:
    old = TemplateVersion.objects.get(pk=old_id)
    new = TemplateVersion.objects.get(pk=new_id)
    return diff_templates(old.definition, new.definition)
