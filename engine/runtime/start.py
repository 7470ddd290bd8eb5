"""Starting an instance of a published template."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from jsonschema import Draft202012Validator

from engine.definition.limits import params_size_problems
from engine.errors import NotFound, ParamsInvalid, TransitionRejected
from engine.models import (
    PhaseRun,
    TemplateVersion,
    VersionState,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.models.states import UNFINISHED_INSTANCE_STATES
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer
from engine.runtime.clock import db_now
from engine.runtime.journal import apply_transition, unit_of_work
from engine.runtime.plans import plan_for


def params_problems(schema: Any, params: Any) -> list[dict[str, str]]:
    """Every way `params` breaks the template's `params` schema (or the size limits), with JSON pointers."""
    too_big = params_size_problems(params)
    if too_big:  # before the schema: its validator and every expression read the whole of it
        return too_big
    if not schema:
        return [] if isinstance(params, dict) else [{"path": "", "message": "params must be a JSON object"}]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = []
    for error in sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path))):
        path = "".join(f"/{part}" for part in error.absolute_path)
        problems.append({"path": path, "message": error.message})
    return problems


def pick_version(template: WorkflowTemplate, number: int | None) -> TemplateVersion:
    versions = TemplateVersion.objects.filter(template=template)
    if number is None:
        version = versions.filter(state=VersionState.PUBLISHED).order_by("-number").first()
        if version is None:
            raise NotFound(f"template {template.key!r} has no published version")
        return version
    version = versions.filter(number=number).first()
    if version is None:
        raise NotFound(f"template {template.key!r} has no version {number}")
    if version.state != VersionState.PUBLISHED:
        raise TransitionRejected(
            f"{template.key} v{number} is {version.state}; only a published version starts"
        )
    return version


def start_instance(
    template_key: str,
    params: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    actor: Actor | None = None,
) -> WorkflowInstance:
    """Start an instance, or return the unfinished one already started with the same business key."""
    actor = actor or Actor.system("api")
    params = {} if params is None else params
    template = WorkflowTemplate.objects.filter(key=template_key).first()
    if template is None:
        raise NotFound(f"no template {template_key!r}")
    if business_key:
        existing = _unfinished(template, business_key)
        if existing is not None:
            return existing
    pinned = pick_version(template, version)
    plan = plan_for(pinned)
    problems = params_problems(plan.params_schema, params)
    if problems:
        raise ParamsInvalid(f"{len(problems)} problem(s) in params", errors=problems)
    try:
        with unit_of_work():
            with (
                transaction.atomic()
            ):  # a savepoint: losing the business-key race leaves the outer block usable
                instance = WorkflowInstance.objects.create(
                    template=template,
                    version=pinned,
                    business_key=business_key or None,
                    params=params,
                    started_by=actor.user,
                )
            PhaseRun.objects.bulk_create(
                PhaseRun(instance=instance, phase_id=spec.id, phase_type=spec.type, position=spec.position)
                for spec in plan.phases.values()
            )
            now = db_now()
            apply_transition(instance, "start", actor=actor, at=now, metadata={"version": pinned.number})
            Advancer(instance, actor=actor, now=now).run()
    except IntegrityError:
        existing = _unfinished(template, business_key) if business_key else None
        if existing is None:
            raise
        return existing
    return instance


def _unfinished(template: WorkflowTemplate, business_key: str) -> WorkflowInstance | None:
    return (
        WorkflowInstance.objects.filter(
            template=template, business_key=business_key, state__in=UNFINISHED_INSTANCE_STATES
        )
        .order_by("created_at")
        .first()
    )
