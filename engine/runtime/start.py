"""Starting an instance of a published template."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from jsonschema import Draft202012Validator

from engine.definition.limits import params_size_problems
from engine.definition.schema_check import data_problems
from engine.errors import Conflict, NotFound, ParamsInvalid, TransitionRejected
from engine.models import (
    InstanceState,
    PhaseRun,
    PhaseState,
    TemplateVersion,
    VersionState,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.models.states import UNFINISHED_INSTANCE_STATES
from engine.runtime import hotpath, scheduler
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer
from engine.runtime.clock import db_now
from engine.runtime.dispatch import dispatch, ready_ref
from engine.runtime.journal import record, record_fields, unit_of_work
from engine.runtime.kinds import kind_of
from engine.runtime.plans import plan_for
from engine.runtime.runbook import RunBook


def params_problems(schema: Any, params: Any, *, whole: str = "params") -> list[dict[str, str]]:
    """Every way `params` breaks the template's `params` schema (or the size limits), with JSON pointers,
    in the designer's words (`whole` names the document in an error about all of it)."""
    too_big = params_size_problems(params)
    if too_big:  # before the schema: its validator and every expression read the whole of it
        return too_big
    if not schema:
        return [] if isinstance(params, dict) else [{"path": "", "message": "params must be a JSON object"}]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return data_problems(validator, params, whole=whole)


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


@dataclass(frozen=True)
class Started:
    """The instance a start gave, and whether this call created it (False: the business key's holder)."""

    instance: WorkflowInstance
    created: bool


def start_instance(
    template_key: str,
    params: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    actor: Actor | None = None,
    *,
    parent_phase_run: PhaseRun | None = None,
    parent_item_run: Any = None,
    depth: int = 0,
) -> WorkflowInstance:
    """Start an instance, or return the one that holds the business key (see `start_or_find`)."""
    return start_or_find(
        template_key,
        params,
        business_key,
        version,
        actor,
        parent_phase_run=parent_phase_run,
        parent_item_run=parent_item_run,
        depth=depth,
    ).instance


def start_or_find(
    template_key: str,
    params: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    actor: Actor | None = None,
    *,
    parent_phase_run: PhaseRun | None = None,
    parent_item_run: Any = None,
    depth: int = 0,
) -> Started:
    """Start an instance, or find the one already started with the same business key: the unfinished
    one, or with `business_key_reuse: "never"` any earlier one. Finding it with other params is a
    Conflict (409): the key names one piece of work, and these params describe another.

    A sub-workflow passes the phase run (and map item run) of its parent that starts it, and its depth.
    """
    actor = actor or Actor.system("api")
    params = {} if params is None else params
    pinned = _startable_version(template_key, version)
    template = pinned.template
    plan = plan_for(pinned)
    keep_keys = plan.business_key_reuse == "never"
    if business_key:
        existing = _holder(template, business_key, keep_keys)
        if existing is not None:
            return _found(existing, params)
    problems = params_problems(plan.params_schema, params)
    if problems:
        raise ParamsInvalid(f"{len(problems)} problem(s) in params", errors=problems)
    now = db_now(pinned)
    try:
        with unit_of_work():
            if business_key and keep_keys:
                # The constraint guards only unfinished instances; an instance that finishes inside its
                # own start would let a second start through, so these starts take the template's lock.
                WorkflowTemplate.objects.select_for_update().filter(pk=template.pk).exists()
                existing = _holder(template, business_key, keep_keys)
                if existing is not None:
                    return _found(existing, params)
            instance = WorkflowInstance(
                template=template,
                version=pinned,
                business_key=business_key or None,
                params=params,
                started_by=actor.user,
                parent_phase_run=parent_phase_run,
                parent_item_run=parent_item_run,
                depth=depth,
            )
            instance.start(at=now)  # written by the INSERT itself: created → running is one row write
            # With a business key, a savepoint: losing the key's race (the unique constraint) leaves an outer
            # block usable. Without one nothing can collide (the id is a new UUID), so no savepoint.
            with transaction.atomic() if business_key else nullcontext():
                hotpath.insert_instance(instance)
            record(
                instance,
                "start",
                source=InstanceState.CREATED,
                target=instance.state,
                actor=actor,
                metadata={"version": pinned.number},
            )
            runs = _create_runs(instance, plan, actor, now)
            Advancer(instance, actor=actor, now=now, runs=runs).run()
    except IntegrityError:
        existing = _holder(template, business_key, keep_keys) if business_key else None
        if existing is None:
            raise
        return _found(existing, params)
    return Started(instance, created=True)


def _found(existing: WorkflowInstance, params: dict[str, Any]) -> Started:
    if existing.params != params:
        raise Conflict(
            f"instance {existing.pk} already holds business key {existing.business_key!r} "
            f"({existing.state}) and was started with other params",
            instance=str(existing.pk),
            business_key=existing.business_key,
            state=existing.state,
        )
    return Started(existing, created=False)


def _startable_version(template_key: str, number: int | None) -> TemplateVersion:
    """The version to start, its template and the database clock in one query (errors: `pick_version`)."""
    if connection.vendor == "postgresql":
        found = hotpath.startable_version(template_key, number)
        if found is not None:
            return found
        return _refusal(template_key, number)
    versions = (
        TemplateVersion.objects.select_related("template")
        .defer("definition")  # read only if the plan is not cached yet
        .filter(template__key=template_key)
        .annotate(db_now=Now())
    )
    if number is None:
        found = versions.filter(state=VersionState.PUBLISHED).order_by("-number").first()
    else:
        found = versions.filter(number=number, state=VersionState.PUBLISHED).first()
    if found is not None:
        return found
    return _refusal(template_key, number)


def _refusal(template_key: str, number: int | None) -> TemplateVersion:
    """Why nothing starts: no such template, no such version, or not published (raises)."""
    template = WorkflowTemplate.objects.filter(key=template_key).first()
    if template is None:
        raise NotFound(f"no template {template_key!r}")
    return pick_version(template, number)  # raises the precise refusal


def _create_runs(instance: WorkflowInstance, plan: Any, actor: Actor, now: Any) -> RunBook:
    """One row per phase in one INSERT; the roots that only dispatch an attempt are inserted ready."""
    pending = {phase_id: scheduler.PhaseSnapshot(PhaseState.PENDING) for phase_id in plan.phases}
    roots = scheduler.next_decision(plan, pending).ready
    ready = {pid for pid in roots if kind_of(plan.phases[pid]).is_dispatched(plan.phases[pid])}
    state_of_ready = hotpath.target_of(PhaseRun, "make_ready", PhaseState.PENDING)
    states = {pid: state_of_ready if pid in ready else PhaseState.PENDING for pid in plan.phases}
    ids = hotpath.insert_runs(
        instance.pk,
        [(spec.id, spec.type, spec.position, states[spec.id]) for spec in plan.phases.values()],
        now=now,
    )
    book = RunBook.of_new(
        instance, [(pid, ids[pid], states[pid], plan.phases[pid].type, 1) for pid in plan.phases]
    )
    for phase_id in ready:
        record_fields(
            "phase",
            book.audit_fields(phase_id),
            "make_ready",
            source=PhaseState.PENDING,
            target=state_of_ready,
            actor=actor,
        )
    dispatch([ready_ref(instance, plan.phases[pid], ids[pid], 1) for pid in roots if pid in ready])
    return book


def _holder(template: WorkflowTemplate, business_key: str, keep_keys: bool) -> WorkflowInstance | None:
    """The instance that holds the key: the unfinished one, or (keys kept for good) the first of all."""
    found = WorkflowInstance.objects.filter(template=template, business_key=business_key)
    if not keep_keys:
        found = found.filter(state__in=UNFINISHED_INSTANCE_STATES)
    return found.order_by("created_at").first()
