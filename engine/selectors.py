"""Reads behind the pages: the inbox, the list of instances, an instance's progress, one phase.

Data only: how a page draws or words it lives in `engine.pages`.

Every read is a fixed number of queries whatever the number of instances or phases (the page tests count
them). Visibility: staff see every instance; others see the instances they started, the instances of
templates that declare a role named like one of their groups, and the instances that give them (or one of
their groups) a role.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Max, Prefetch, Q, QuerySet, Value, When

from engine.definition.plan import PhasePlan, Plan
from engine.errors import NotFound, PermissionDenied
from engine.models import (
    Comment,
    DeadLetter,
    GateResult,
    InstanceState,
    ItemRun,
    PhaseRun,
    PhaseState,
    RoleAssignment,
    TemplateVersion,
    Transition,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.models.states import FINISHED_PHASE_STATES, OPEN_PHASE_STATES, SLA_ORDER, SLA_RANK
from engine.runtime.human import Work, can_view_instance, group_names
from engine.runtime.plans import plan_for

RANK_SLA = dict(enumerate(SLA_ORDER))


# --- visibility -----------------------------------------------------------------------------------------


def instance_visible_q(user: Any) -> Q | None:
    """The filter for instances `user` may see, or None when they may see all of them."""
    if user.is_staff and user.is_active:
        return None
    names = sorted(group_names(user))
    assigned = RoleAssignment.objects.filter(Q(user=user) | Q(group__name__in=names)).values("instance_id")
    visible = Q(started_by=user) | Q(pk__in=assigned)
    if names:
        visible |= Q(version__definition__roles__has_any_keys=names)
    return visible


def instances_visible_to(user: Any) -> QuerySet[WorkflowInstance]:
    visible = instance_visible_q(user)
    queryset = WorkflowInstance.objects.all()
    return queryset if visible is None else queryset.filter(visible)


def instance_for_user(*, user: Any, instance_id: Any) -> tuple[WorkflowInstance, Plan]:
    """The instance and its plan; NotFound when it does not exist, PermissionDenied when it is not yours."""
    instance = (
        WorkflowInstance.objects.select_related("template", "version", "started_by")
        .filter(pk=instance_id)
        .first()
    )
    if instance is None:
        raise NotFound(f"no instance {instance_id}")
    plan = plan_for(instance.version)
    if not can_view_instance(user, instance, plan):
        raise PermissionDenied("you may not see this instance")
    return instance, plan


# --- inbox ----------------------------------------------------------------------------------------------


@dataclass
class InboxItem:
    run: PhaseRun
    plan: Plan
    spec: PhasePlan
    roles: list[tuple[str, str]]  # (key, name) of the phase's roles
    mine: bool
    why: str = ""  # the pages' sentence on what it waits for (engine.pages.waiting)


@dataclass
class Inbox:
    items: list[InboxItem]
    roles: list[tuple[str, str]]  # every role the user works under, for the filter
    templates: list[tuple[str, str]]  # (key, name)
    total: int = 0


def _plans_by_version(version_ids: Iterable[int]) -> dict[int, Plan]:
    # The definition is only read when the process has not compiled the version yet (plans are cached).
    versions = TemplateVersion.objects.filter(pk__in=set(version_ids)).defer("definition")
    return {version.pk: plan_for(version) for version in versions}


def inbox_get(
    *,
    user: Any,
    role: str = "",
    template: str = "",
    sla: str = "",
    limit: int = 200,
) -> Inbox:
    """The open human phases `user` may act on: theirs, and unclaimed ones their roles allow; by due time."""
    groups = group_names(user)
    running = WorkflowInstance.objects.filter(state=InstanceState.RUNNING)
    assigned: dict[Any, set[str]] = defaultdict(set)
    assigned_versions: dict[Any, int] = {}
    holder = Q(user=user) | Q(group__name__in=groups)
    for instance_id, version_id, role_key in RoleAssignment.objects.filter(
        holder, instance__state=InstanceState.RUNNING
    ).values_list("instance_id", "instance__version_id", "role"):
        assigned[instance_id].add(role_key)
        assigned_versions[instance_id] = version_id
    version_ids: set[int] = set(assigned_versions.values())
    if groups:
        version_ids |= set(
            TemplateVersion.objects.filter(
                definition__roles__has_any_keys=sorted(groups), pk__in=running.values("version_id")
            ).values_list("pk", flat=True)
        )
    plans = _plans_by_version(version_ids)

    def phases_for(plan: Plan, held: set[str]) -> list[str]:
        wanted = held if not role else held & {role}
        return [spec.id for spec in plan.phases.values() if spec.type == "human" and wanted & set(spec.roles)]

    allowed = Q(pk__in=[])
    for version_id, plan in plans.items():
        phase_ids = phases_for(plan, set(groups))
        if phase_ids:
            allowed |= Q(instance__version_id=version_id, phase_id__in=phase_ids)
    for instance_id, held in assigned.items():
        phase_ids = phases_for(plans[assigned_versions[instance_id]], held | set(groups))
        if phase_ids:
            allowed |= Q(instance_id=instance_id, phase_id__in=phase_ids)
    mine = Q(assignee=user) if not role else Q(pk__in=[])
    queryset = PhaseRun.objects.filter(
        (allowed & (Q(assignee__isnull=True) | Q(assignee=user))) | mine,
        state=PhaseState.ACTIVE,
        phase_type="human",
        instance__state=InstanceState.RUNNING,
    )
    if template:
        queryset = queryset.filter(instance__template__key=template)
    if sla:
        queryset = queryset.filter(sla_status=sla)
    runs = list(
        queryset.select_related("instance__template", "assignee").order_by(
            F("due_at").asc(nulls_last=True), "activated_at", "pk"
        )[: limit + 1]
    )
    # Plans of phases that are only in the inbox because they are assigned to the user.
    missing = {run.instance.version_id for run in runs} - set(plans)
    plans.update(_plans_by_version(missing))
    items = []
    for run in runs[:limit]:
        plan = plans[run.instance.version_id]
        spec = plan.phases[run.phase_id]
        role_names = [(key, plan.roles.get(key, key)) for key in spec.roles]
        items.append(
            InboxItem(run=run, plan=plan, spec=spec, roles=role_names, mine=run.assignee_id == user.pk)
        )
    role_names_all: dict[str, str] = {}
    for plan in plans.values():
        for key, name in plan.roles.items():
            if key in groups or any(key in held for held in assigned.values()):
                role_names_all.setdefault(key, name)
    return Inbox(
        items=items,
        roles=sorted(role_names_all.items()),
        templates=sorted({(plan.key, plan.name) for plan in plans.values()}),
        total=len(items),
    )


# --- instances ------------------------------------------------------------------------------------------


def _worst_sla() -> Case:
    return Case(
        *(When(phase_runs__sla_status=status, then=Value(rank)) for status, rank in SLA_RANK.items() if rank),
        default=Value(0),
        output_field=IntegerField(),
    )


def instance_list(
    *, user: Any, state: str = "", template: str = "", sla: str = "", search: str = ""
) -> QuerySet[WorkflowInstance]:
    """Visible instances, newest first, with `phase_total`, `phase_finished`, `sla_rank` and `open_runs`."""
    queryset = instances_visible_to(user)
    if state:
        queryset = queryset.filter(state=state)
    if template:
        queryset = queryset.filter(template__key=template)
    if search:
        queryset = queryset.filter(Q(business_key__icontains=search) | Q(template__name__icontains=search))
    queryset = queryset.annotate(
        phase_total=Count("phase_runs"),
        phase_finished=Count("phase_runs", filter=Q(phase_runs__state__in=FINISHED_PHASE_STATES)),
        sla_rank=Max(_worst_sla()),
    )
    if sla:
        queryset = queryset.filter(sla_rank=SLA_RANK.get(sla, -1))
    open_runs = (
        PhaseRun.objects.filter(state__in=OPEN_PHASE_STATES).select_related("assignee").order_by("position")
    )
    return (
        queryset.select_related("template", "started_by")
        .prefetch_related(Prefetch("phase_runs", queryset=open_runs, to_attr="open_runs"))
        .order_by("-created_at", "pk")
    )


def template_choices() -> list[tuple[str, str]]:
    return list(WorkflowTemplate.objects.order_by("key").values_list("key", "name"))


# --- one instance ---------------------------------------------------------------------------------------


@dataclass
class PhaseRow:
    """One phase of an instance as the pages show it."""

    run: PhaseRun
    spec: PhasePlan
    items: dict[str, int] = field(default_factory=dict)
    can_claim: bool = False
    can_complete: bool = False
    can_release: bool = False
    can_assign: bool = False
    why: str = ""  # the pages' sentence on what it waits for (engine.pages.waiting)

    @property
    def roles(self) -> tuple[str, ...]:
        return self.spec.roles


@dataclass
class Progress:
    instance: WorkflowInstance
    plan: Plan
    work: Work
    runs: dict[str, PhaseRun]
    rows: list[PhaseRow]
    history: list[Transition]
    comments: list[Comment]
    finished: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 0


def _item_counts(instance: WorkflowInstance) -> dict[str, dict[str, int]]:
    rows = (
        ItemRun.objects.filter(instance=instance, round=F("phase_run__round"))
        .values_list("phase_run__phase_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for phase_id, state, n in rows:
        counts[phase_id][state] = n
    return counts


def _rows(instance: WorkflowInstance, plan: Plan, runs: Mapping[str, PhaseRun], work: Work) -> list[PhaseRow]:
    items = _item_counts(instance) if any(spec.type == "map" for spec in plan.phases.values()) else {}
    rows = []
    for phase_id in plan.order:
        run, spec = runs[phase_id], plan.phases[phase_id]
        counts = items.get(phase_id, {})
        rows.append(
            PhaseRow(
                run=run,
                spec=spec,
                items=counts,
                can_claim=work.can_claim(run, spec) and instance.state == InstanceState.RUNNING,
                can_complete=work.can_complete(run, spec) and instance.state == InstanceState.RUNNING,
                can_release=work.can_release(run, spec),
                can_assign=work.can_assign(run, spec),
            )
        )
    return rows


def instance_progress_get(*, user: Any, instance_id: Any) -> Progress:
    """Everything the progress page shows, in a fixed number of queries."""
    instance, plan = instance_for_user(user=user, instance_id=instance_id)
    runs = {
        run.phase_id: run
        for run in PhaseRun.objects.filter(instance=instance).select_related("assignee", "completed_by")
    }
    work = Work.of(user, instance, plan)
    rows = _rows(instance, plan, runs, work)
    history = list(Transition.objects.filter(instance=instance, item_run__isnull=True).order_by("id"))
    comments = list(Comment.objects.filter(instance=instance).select_related("author", "phase_run"))
    finished = sum(1 for run in runs.values() if run.state in FINISHED_PHASE_STATES)
    return Progress(
        instance=instance,
        plan=plan,
        work=work,
        runs=runs,
        rows=rows,
        history=history,
        comments=comments,
        finished=finished,
        total=len(runs),
    )


@dataclass
class PhaseDetail:
    instance: WorkflowInstance
    plan: Plan
    work: Work
    runs: dict[str, PhaseRun]
    row: PhaseRow
    history: list[Transition]
    comments: list[Comment]
    gate_results: list[GateResult]
    items: list[ItemRun]
    dead_letters: list[DeadLetter]
    submissions: list[Transition]  # earlier rounds' submitted data, newest first
    role_names: list[tuple[str, str]]

    @property
    def run(self) -> PhaseRun:
        return self.row.run

    @property
    def spec(self) -> PhasePlan:
        return self.row.spec


MAX_ITEMS_SHOWN = 200


def phase_detail_get(*, user: Any, instance_id: Any, phase_id: str) -> PhaseDetail:
    """Everything the per-phase page shows, in a fixed number of queries."""
    instance, plan = instance_for_user(user=user, instance_id=instance_id)
    spec = plan.phases.get(phase_id)
    if spec is None:
        raise NotFound(f"instance {instance.pk} has no phase {phase_id!r}")
    runs = {
        run.phase_id: run
        for run in PhaseRun.objects.filter(instance=instance).select_related("assignee", "completed_by")
    }
    run = runs[phase_id]
    work = Work.of(user, instance, plan)
    counts: dict[str, int] = {}
    items: list[ItemRun] = []
    if spec.type == "map":
        items = list(
            ItemRun.objects.filter(phase_run=run, round=run.round).order_by("index")[:MAX_ITEMS_SHOWN]
        )
        counts = _item_counts(instance).get(phase_id, {})
    row = PhaseRow(
        run=run,
        spec=spec,
        items=counts,
        can_claim=work.can_claim(run, spec) and instance.state == InstanceState.RUNNING,
        can_complete=work.can_complete(run, spec) and instance.state == InstanceState.RUNNING,
        can_release=work.can_release(run, spec),
        can_assign=work.can_assign(run, spec),
    )
    history = list(
        Transition.objects.filter(instance=instance, phase_id=phase_id, item_run__isnull=True).order_by("id")
    )
    submissions = [t for t in reversed(history) if t.name in ("submit", "force_complete", "data_edit")]
    return PhaseDetail(
        instance=instance,
        plan=plan,
        work=work,
        runs=runs,
        row=row,
        history=history,
        comments=list(Comment.objects.filter(phase_run=run).select_related("author")),
        gate_results=list(GateResult.objects.filter(phase_run=run).order_by("-id"))
        if spec.type == "gate"
        else [],
        items=items,
        dead_letters=list(DeadLetter.objects.filter(phase_run=run).order_by("-id"))
        if spec.is_automated
        else [],
        submissions=submissions,
        role_names=[(key, plan.roles.get(key, key)) for key in spec.roles],
    )


__all__ = [
    "RANK_SLA",
    "SLA_RANK",
    "can_view_instance",
    "inbox_get",
    "instance_for_user",
    "instance_list",
    "instance_progress_get",
    "instance_visible_q",
    "instances_visible_to",
    "phase_detail_get",
    "template_choices",
]
