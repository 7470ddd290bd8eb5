"""Moving running instances to another published version of their template.

`migration_check` says, per instance, which phases map by id (or by the given `mapping` of renamed ids),
which are added or removed, and what blocks the move:

- `instance_finished`: only created, running or suspended instances move;
- `other_template` / `not_published` / `same_version`: the target is not a published version of the
  instance's template, or is its version already;
- `unknown_source_phase` / `unknown_target_phase` / `mapping_collision`: a bad `mapping`;
- `removed_active_phase`: a phase that is ready, active or waiting does not exist in the target;
- `removed_phase_has_records`: a removed phase has gate results or dead letters, which belong to its run;
- `changed_phase_kind`: a phase that has started has another type in the target.

`instances_migrate` runs the check under the instance lock and, when nothing blocks, suspends the instance,
renames, adds and removes phase runs, points it at the target version, records `migrate` with the before
and after versions, resumes it and advances it on the new plan, all in one transaction per instance. The
audit rows of a removed phase stay (by phase id) while its run goes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import access
from engine.errors import FormInvalid, NotFound
from engine.models import (
    Comment,
    DeadLetter,
    GateResult,
    InstanceState,
    PhaseRun,
    PhaseState,
    TemplateVersion,
    Transition,
    VersionState,
    WorkflowInstance,
)
from engine.models.states import OPEN_PHASE_STATES, UNFINISHED_INSTANCE_STATES
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer, lock_instance
from engine.runtime.clock import db_now
from engine.runtime.journal import apply_transition, record, unit_of_work
from engine.runtime.plans import plan_for

PERMISSION = access.MIGRATE_PERMISSION


@dataclass
class MigrationReport:
    """What moving one instance would do, and why it cannot (`problems` empty: it can)."""

    instance_id: Any
    from_version: int
    to_version: int
    mapped: dict[str, str] = field(default_factory=dict)  # old phase id -> new phase id
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    migrated: bool = False

    @property
    def can_move(self) -> bool:
        return not self.problems

    def problem(self, code: str, message: str, phase_id: str = "") -> None:
        self.problems.append({"code": code, "phase_id": phase_id, "message": message})

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance": str(self.instance_id),
            "from_version": self.from_version,
            "to_version": self.to_version,
            "mapped": self.mapped,
            "added": self.added,
            "removed": self.removed,
            "problems": self.problems,
            "can_move": self.can_move,
            "migrated": self.migrated,
        }


def target_version(*, template_key: str, number: int) -> TemplateVersion:
    version = TemplateVersion.objects.filter(template__key=template_key, number=number).first()
    if version is None:
        raise NotFound(f"template {template_key!r} has no version {number}")
    return version


def instance_migration_check(
    instance: WorkflowInstance, target: TemplateVersion, mapping: Mapping[str, str] | None = None
) -> MigrationReport:
    """What moving `instance` to `target` would do; reads only (no lock: the move checks again)."""
    mapping = dict(mapping or {})
    report = MigrationReport(instance.pk, instance.version.number, target.number)
    if instance.state not in UNFINISHED_INSTANCE_STATES:
        report.problem("instance_finished", f"the instance is {instance.state}; only unfinished ones move")
    if target.template_id != instance.template_id:
        report.problem("other_template", f"{target} is not a version of {instance.template.key}")
        return report
    if target.state != VersionState.PUBLISHED:
        report.problem("not_published", f"{target} is {target.state}; instances move only to a published one")
    if target.pk == instance.version_id:
        report.problem("same_version", f"the instance already runs v{target.number}")
    old, new = plan_for(instance.version), plan_for(target)
    for source, destination in mapping.items():
        if source not in old.phases:
            report.problem(
                "unknown_source_phase", f"v{instance.version.number} has no phase {source!r}", source
            )
        if destination not in new.phases:
            report.problem(
                "unknown_target_phase", f"v{target.number} has no phase {destination!r}", destination
            )
    runs = {run.phase_id: run for run in PhaseRun.objects.filter(instance=instance)}
    for phase_id in old.phases:
        destination = mapping.get(phase_id, phase_id)
        if destination in new.phases:
            report.mapped[phase_id] = destination
        else:
            report.removed.append(phase_id)
    targets = list(report.mapped.values())
    for destination in sorted({d for d in targets if targets.count(d) > 1}):
        report.problem("mapping_collision", f"two phases would both become {destination!r}", destination)
    report.added = [pid for pid in new.phases if pid not in set(targets)]
    for phase_id in report.removed:
        run = runs.get(phase_id)
        if run is None:
            continue
        if run.state in OPEN_PHASE_STATES:
            report.problem(
                "removed_active_phase", f"{phase_id!r} is {run.state} and v{target.number} drops it", phase_id
            )
        elif (
            GateResult.objects.filter(phase_run=run).exists()
            or DeadLetter.objects.filter(phase_run=run).exists()
        ):
            message = f"{phase_id!r} has gate results or dead letters; v{target.number} drops the phase"
            report.problem("removed_phase_has_records", message, phase_id)
    for source, destination in report.mapped.items():
        run = runs.get(source)
        old_type, new_type = old.phases[source].type, new.phases[destination].type
        if run is not None and old_type != new_type and run.state != PhaseState.PENDING:
            message = f"{source!r} is a {old_type} that has started; in v{target.number} it is a {new_type}"
            report.problem("changed_phase_kind", message, source)
    return report


def instances_migrate(
    *,
    instance_ids: Sequence[Any],
    target: TemplateVersion,
    user: Any,
    reason: str,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> list[MigrationReport]:
    """Check (dry run) or move each instance; each one moves in its own transaction, or not at all."""
    access.require_migrate(user)
    reason = (reason or "").strip()
    if not reason and not dry_run:
        raise FormInvalid(
            "a migration needs a reason", errors={"reason": ["Say why: it goes in the audit trail."]}
        )
    actor = Actor.of(user)
    reports = []
    for instance_id in instance_ids:
        if dry_run:
            instance = (
                WorkflowInstance.objects.select_related("version", "template").filter(pk=instance_id).first()
            )
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            reports.append(instance_migration_check(instance, target, mapping))
        else:
            reports.append(_migrate_one(instance_id, target, mapping or {}, actor, reason))
    return reports


def _migrate_one(
    instance_id: Any, target: TemplateVersion, mapping: Mapping[str, str], actor: Actor, reason: str
) -> MigrationReport:
    with unit_of_work():
        try:
            instance = lock_instance(instance_id)
        except WorkflowInstance.DoesNotExist:
            raise NotFound(f"no instance {instance_id}") from None
        report = instance_migration_check(instance, target, mapping)
        if not report.can_move:
            return report
        now = db_now(instance)
        was_running = instance.state == InstanceState.RUNNING
        if was_running:
            apply_transition(instance, "suspend", actor=actor, at=now, reason=f"migration: {reason}")
        _move_runs(instance, target, report)
        before = instance.version.number
        instance.version = target
        instance.save(update_fields=["version", "updated_at"])
        record(
            instance,
            "migrate",
            source=instance.state,
            target=instance.state,
            actor=actor,
            reason=reason,
            metadata={
                "from_version": before,
                "to_version": target.number,
                "mapped": {k: v for k, v in report.mapped.items() if k != v},
                "added": report.added,
                "removed": report.removed,
            },
        )
        if was_running:
            apply_transition(instance, "resume", actor=actor, at=now, reason=f"migration: {reason}")
            Advancer(instance, actor=actor, now=now).run()
        report.migrated = True
        return report


def _move_runs(instance: WorkflowInstance, target: TemplateVersion, report: MigrationReport) -> None:
    plan = plan_for(target)
    runs = {run.phase_id: run for run in PhaseRun.objects.filter(instance=instance)}
    for phase_id in report.removed:
        run = runs.pop(phase_id, None)
        if run is None:
            continue
        # The audit trail keeps the phase id; only the links to the run that goes are cut.
        Transition.objects.filter(phase_run=run).update(phase_run=None, item_run=None)
        Comment.objects.filter(phase_run=run).update(phase_run=None)
        run.delete()
    renamed = {old: new for old, new in report.mapped.items() if old != new and old in runs}
    for old in renamed:  # two steps, so that swapping two ids never meets the unique constraint
        PhaseRun.objects.filter(pk=runs[old].pk).update(phase_id=f"~{runs[old].pk}")
    for old, new in report.mapped.items():
        if old not in runs:
            continue
        spec = plan.phases[new]
        PhaseRun.objects.filter(pk=runs[old].pk).update(
            phase_id=new, phase_type=spec.type, position=spec.position
        )
    PhaseRun.objects.bulk_create(
        PhaseRun(
            instance=instance,
            phase_id=pid,
            phase_type=plan.phases[pid].type,
            position=plan.phases[pid].position,
        )
        for pid in report.added
    )
