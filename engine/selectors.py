"""Reads behind the pages: the inbox, the list of instances, an instance's progress, one phase.

Data only: how a page draws or words it lives in `engine.pages`.

Every read is a fixed number of queries whatever the number of instances or phases (the page tests count
them). Who sees which instance is `engine.access`'s rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Value, When

from engine.access import Work, instance_visible_q, require_view_instance, startable_roles_q
from engine.definition.plan import PhasePlan, Plan
from engine.errors import NotFound
from engine.inbox import INBOX_PAGE_SIZE, Inbox, InboxItem, inbox_get
from engine.models import (
    STANDING_PHASE_STATES,
    Comment,
    CompensationRun,
    DeadLetter,
    GateResult,
    InstanceState,
    ItemRun,
    PhaseRun,
    TemplateVersion,
    Transition,
    VersionState,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.models.states import FINISHED_PHASE_STATES, OPEN_PHASE_STATES, SLA_ORDER, SLA_RANK
from engine.paging import Window, window
from engine.runtime import scheduler
from engine.runtime.plans import plan_for

RANK_SLA = dict(enumerate(SLA_ORDER))


# --- visibility -----------------------------------------------------------------------------------------


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
    require_view_instance(user, instance, plan)
    return instance, plan


# --- instances ------------------------------------------------------------------------------------------


def _worst_sla() -> Case:
    return Case(
        *(When(sla_status=status, then=Value(rank)) for status, rank in SLA_RANK.items() if rank),
        default=Value(0),
        output_field=IntegerField(),
    )


def instance_list(
    *, user: Any, state: str = "", template: str = "", sla: str = "", search: str = ""
) -> QuerySet[WorkflowInstance]:
    """Visible instances matching the filters, newest first (an index of created_at and id serves it).

    `sla` keeps the instances whose worst phase SLA status is that one: some phase has it, none is worse.
    """
    queryset = instances_visible_to(user)
    if state:
        queryset = queryset.filter(state=state)
    if template:
        template_id = WorkflowTemplate.objects.filter(key=template).values_list("pk", flat=True).first()
        queryset = queryset.filter(template_id=template_id)
    if search:
        queryset = queryset.filter(Q(business_key__icontains=search) | Q(template__name__icontains=search))
    if sla:
        rank = SLA_RANK.get(sla, -1)
        worse = [status for status, other in SLA_RANK.items() if other > rank]

        # Correlated EXISTS on the (sla_status, instance) index: the page walks the newest instances and
        # stops at 25 (3 ms), where IN made the database join every instance first (50 ms).
        def having(statuses: list[str]) -> Exists:
            runs = PhaseRun.objects.filter(instance_id=OuterRef("pk"), sla_status__in=statuses)
            return Exists(runs)

        queryset = queryset.filter(having([sla]))
        if worse:
            queryset = queryset.exclude(having(worse))
    return queryset.select_related("template", "started_by").order_by("-created_at", "-pk")


def instance_page(queryset: QuerySet[WorkflowInstance], number: int, size: int) -> Window:
    """Page `number` of `instance_list`, each instance with `phase_total`, `phase_finished`, `sla_rank`
    and `open_runs`: worked out for the page's instances only (two queries)."""
    shown = window(queryset, number, size)
    ids = [instance.pk for instance in shown.object_list]
    stats = {
        row["instance_id"]: row
        for row in PhaseRun.objects.filter(instance_id__in=ids)
        .values("instance_id")
        .annotate(
            total=Count("id"),
            finished=Count("id", filter=Q(state__in=FINISHED_PHASE_STATES)),
            completed=Count("id", filter=Q(state="completed")),
            skipped=Count("id", filter=Q(state="skipped")),
            failed=Count("id", filter=Q(state="failed")),
            cancelled=Count("id", filter=Q(state="cancelled")),
            rank=Max(_worst_sla()),
        )
        .order_by()
    }
    open_runs: dict[Any, list[PhaseRun]] = defaultdict(list)
    if ids:
        for run in (
            PhaseRun.objects.filter(instance_id__in=ids, state__in=OPEN_PHASE_STATES)
            .select_related("assignee")
            .order_by("position")
        ):
            open_runs[run.instance_id].append(run)
    for instance in shown.object_list:
        row = stats.get(instance.pk, {})
        instance.phase_total = row.get("total", 0)
        instance.phase_finished = row.get("finished", 0)
        instance.phase_counts = {
            state: row.get(state, 0) for state in ("completed", "skipped", "failed", "cancelled")
        }
        instance.sla_rank = row.get("rank") or 0
        instance.open_runs = open_runs.get(instance.pk, [])
    return shown


def startable_versions(*, user: Any) -> list[TemplateVersion]:
    """The latest published version of each template `user` may start (`engine.access.may_start`)."""
    versions = TemplateVersion.objects.filter(state=VersionState.PUBLISHED).select_related("template")
    allowed = startable_roles_q(user)
    if allowed is not None:
        versions = versions.filter(allowed)
    latest: dict[int, TemplateVersion] = {}
    for version in versions.order_by("template__key", "-number"):
        latest.setdefault(version.template_id, version)
    return list(latest.values())


def published_template_exists(*, key: str) -> bool:
    return TemplateVersion.objects.filter(template__key=key, state=VersionState.PUBLISHED).exists()


def version_plan(version: TemplateVersion) -> Plan:
    """The compiled plan of a version (cached per process)."""
    return plan_for(version)


def instance_compensations(*, instance_id: Any) -> list[CompensationRun]:
    """The compensation steps of an instance, in the order they run."""
    return list(CompensationRun.objects.filter(instance_id=instance_id).order_by("order"))


def instance_children(*, instance_id: Any) -> list[WorkflowInstance]:
    """The sub-workflows an instance started, oldest first."""
    return list(
        WorkflowInstance.objects.filter(parent_phase_run__instance_id=instance_id)
        .select_related("template", "parent_phase_run", "parent_item_run")
        .order_by("created_at")
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
    url: str = ""  # the phase page, set by the page
    claim_url: str = ""  # where its claim button posts, set by the page

    @property
    def roles(self) -> tuple[str, ...]:
        return self.spec.roles


@dataclass(frozen=True, slots=True)
class PhaseGlance:
    """What the pages need of every phase of an instance (its graph, its counts, why a phase waits): a
    few columns, so a 500-phase instance reads 500 short rows, not 500 models."""

    phase_id: str
    state: str
    sla_status: str
    assignee: str  # the holder's username, or ""
    error: dict[str, Any] | None


def _glances(instance: WorkflowInstance) -> dict[str, PhaseGlance]:
    rows = PhaseRun.objects.filter(instance=instance).values_list(
        "phase_id", "state", "sla_status", "assignee__username", "error"
    )
    return {
        phase_id: PhaseGlance(phase_id, state, sla_status, assignee or "", error)
        for phase_id, state, sla_status, assignee, error in rows.order_by()
    }


@dataclass
class Progress:
    instance: WorkflowInstance
    plan: Plan
    work: Work
    runs: dict[str, PhaseGlance]  # every phase
    rows: list[PhaseRow]  # the page of the phase table, with their whole runs
    history: list[Transition]
    comments: list[Comment]
    finished: int
    total: int
    older_history: int | None = None  # the id to page back from when older audit rows are not shown
    phases: Window | None = None  # the page of the phase table that `rows` are

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 0

    @property
    def counts(self) -> dict[str, int]:
        """Phases by state: the progress bar tells completed, skipped, failed and cancelled apart."""
        found: dict[str, int] = {}
        for run in self.runs.values():
            found[run.state] = found.get(run.state, 0) + 1
        return found


HISTORY_SHOWN = 100  # audit rows a page shows at once, the newest; older ones a page back


def _history(queryset: QuerySet[Transition], before: int | None) -> tuple[list[Transition], int | None]:
    """The newest `HISTORY_SHOWN` audit rows (older than id `before`), oldest first, and where older
    ones start: keyset paging on (instance, id), so a page deep in a long history costs the same."""
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    rows = list(queryset.order_by("-id")[: HISTORY_SHOWN + 1])
    older = rows[HISTORY_SHOWN - 1].pk if len(rows) > HISTORY_SHOWN else None
    return rows[:HISTORY_SHOWN][::-1], older


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


def _whole_runs(queryset: QuerySet[PhaseRun]) -> dict[str, PhaseRun]:
    return {run.phase_id: run for run in queryset.select_related("assignee", "completed_by").order_by()}


def _rows(
    instance: WorkflowInstance, plan: Plan, runs: Mapping[str, PhaseRun], work: Work, phase_ids: list[str]
) -> list[PhaseRow]:
    items = _item_counts(instance) if any(plan.phases[p].type == "map" for p in phase_ids) else {}
    rows = []
    for phase_id in phase_ids:
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


PHASES_SHOWN = 50  # rows of an instance's phase table at once (its graph shows every phase)


def phase_table_page(plan: Plan, runs: Mapping[str, PhaseGlance], number: int | None) -> Window:
    """Page `number` of the phase ids in plan order; by default the page where the instance stands (its
    first open or failed phase), so a 500-phase instance opens on the phases that matter now."""
    order, size = plan.order, PHASES_SHOWN
    if number is None:
        first = next((i for i, p in enumerate(order) if runs[p].state in STANDING_PHASE_STATES), 0)
        number = first // size + 1
    number = min(number, max(1, -(-len(order) // size)))
    start = (number - 1) * size
    return Window(
        object_list=list(order[start : start + size]),
        number=number,
        size=size,
        count=len(order),
        capped=False,
        has_next_rows=start + size < len(order),
    )


def instance_progress_get(
    *, user: Any, instance_id: Any, history_before: int | None = None, phase_page: int | None = None
) -> Progress:
    """Everything the progress page shows, in a fixed number of queries; the rows (with what the user
    may do) for one page of the phase table (`phase_table_page`)."""
    instance, plan = instance_for_user(user=user, instance_id=instance_id)
    runs = _glances(instance)
    work = Work.of(user, instance, plan)
    phases = phase_table_page(plan, runs, phase_page)
    shown = PhaseRun.objects.filter(instance=instance, phase_id__in=phases.object_list)
    rows = _rows(instance, plan, _whole_runs(shown), work, phases.object_list)
    history, older = _history(
        Transition.objects.filter(instance=instance, item_run__isnull=True), history_before
    )
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
        older_history=older,
        phases=phases,
    )


@dataclass
class PhaseDetail:
    instance: WorkflowInstance
    plan: Plan
    work: Work
    runs: dict[str, PhaseGlance]  # every phase
    row: PhaseRow
    history: list[Transition]
    comments: list[Comment]
    gate_results: list[GateResult]
    items: list[ItemRun]
    dead_letters: list[DeadLetter]
    submissions: list[Transition]  # earlier rounds' submitted data, newest first
    role_names: list[tuple[str, str]]
    older_history: int | None = None

    @property
    def run(self) -> PhaseRun:
        return self.row.run

    @property
    def spec(self) -> PhasePlan:
        return self.row.spec


MAX_ITEMS_SHOWN = 200


def phase_detail_get(
    *, user: Any, instance_id: Any, phase_id: str, history_before: int | None = None
) -> PhaseDetail:
    """Everything the per-phase page shows, in a fixed number of queries."""
    instance, plan = instance_for_user(user=user, instance_id=instance_id)
    spec = plan.phases.get(phase_id)
    if spec is None:
        raise NotFound(f"instance {instance.pk} has no phase {phase_id!r}")
    runs = _glances(instance)
    run = _whole_runs(PhaseRun.objects.filter(instance=instance, phase_id=phase_id))[phase_id]
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
    history, older = _history(
        Transition.objects.filter(instance=instance, phase_id=phase_id, item_run__isnull=True), history_before
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
        older_history=older,
    )


def phase_input(instance: Any, spec: Any, run: Any) -> dict[str, Any] | None:
    """The input an attempt of `run` gets: the operator's correction, else the input mapping evaluated on
    the instance as it stands. None for a phase whose input cannot be evaluated now."""
    from datetime import UTC, datetime

    from engine.runtime.attempts import Claim, build_input
    from engine.runtime.dispatch import AttemptRef

    if run.input_override is not None:
        return dict(run.input_override)
    if spec.type not in ("task", "gate") or run.state == "pending":
        return None
    claim = Claim(AttemptRef(run.pk), instance, spec, run, token="", claimed_at=datetime.now(UTC))
    try:
        return build_input(claim)
    except Exception:  # an expression that fails now: the error section says why
        return None


def phase_is_settled(plan: Plan, phase_id: str, state: str, routed_to: str | None) -> bool:
    """Whether a phase in `state` no longer holds up what depends on it (the scheduler's rule)."""
    return scheduler.is_settled(plan, phase_id, state, routed_to)


__all__ = [
    "phase_is_settled",
    "phase_input",
    "INBOX_PAGE_SIZE",
    "RANK_SLA",
    "SLA_RANK",
    "Inbox",
    "InboxItem",
    "PhaseGlance",
    "inbox_get",
    "instance_compensations",
    "instance_for_user",
    "instance_list",
    "instance_page",
    "instance_progress_get",
    "instance_visible_q",
    "instances_visible_to",
    "phase_detail_get",
    "phase_table_page",
    "PHASES_SHOWN",
    "published_template_exists",
    "startable_versions",
    "template_choices",
    "version_plan",
]
