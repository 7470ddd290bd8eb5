"""The inbox: the open human phases a user may act on, one page at a time, by due time.

Which phases a user may act on is decided per template version, not per instance: the phases whose roles
the user holds through a group name, and the phases whose roles an instance gives them (one subquery on
the role assignments per role, however many instances assign it). So the query stays the same size for a
user with thousands of assignments, the database pages and counts it, and only the page's rows are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.db.models import Window as Over

from engine.access import group_names
from engine.definition.plan import PhasePlan, Plan
from engine.models import InstanceState, PhaseRun, PhaseState, RoleAssignment, TemplateVersion, VersionState
from engine.paging import Window
from engine.runtime.plans import plan_for

INBOX_PAGE_SIZE = 50


@dataclass
class InboxItem:
    run: PhaseRun
    plan: Plan
    spec: PhasePlan
    roles: list[tuple[str, str]]  # (key, name) of the phase's roles
    mine: bool
    why: str = ""  # the pages' sentence on what it waits for (engine.pages.waiting)
    # the page's links, set by the page
    phase_url: str = ""
    claim_url: str = ""
    workflow_url: str = ""


@dataclass
class Inbox:
    items: list[InboxItem]
    roles: list[tuple[str, str]]  # every role the user works under, for the filter
    templates: list[tuple[str, str]]  # (key, name)
    page: Window

    @property
    def total(self) -> int:
        return self.page.count


def _holder(user: Any, groups: frozenset[str]) -> Q:
    return Q(user=user) | Q(group__name__in=sorted(groups))


def _plans(roles: set[str]) -> dict[int, Plan]:
    """Plans of the versions that declare one of `roles` (the definition is read only when not cached)."""
    if not roles:
        return {}
    versions = (
        TemplateVersion.objects.filter(definition__roles__has_any_keys=sorted(roles))
        .exclude(state=VersionState.DRAFT)
        .defer("definition")
    )
    return {version.pk: plan_for(version) for version in versions}


def _human_phases(plan: Plan, roles: set[str]) -> Q | None:
    """The human phases of `plan` that `roles` may act on, as a filter; None when there are none."""
    human = [spec for spec in plan.phases.values() if spec.type == "human"]
    phase_ids = [spec.id for spec in human if roles & set(spec.roles)]
    if not phase_ids:
        return None
    # Every human phase (the query asks for human phases already): no list of ids, which for a
    # 500-phase template costs the planner more than running the query.
    return Q() if len(phase_ids) == len(human) else Q(phase_id__in=phase_ids)


def _page_of_ids(queryset: QuerySet[PhaseRun], number: int, size: int) -> Window:
    """The page's ids and the total in one pass (`COUNT(*) OVER ()`): an inbox holds at most a few
    thousand open phases, and counting them in the same scan halves the work."""
    ordered = queryset.annotate(total=Over(Count("pk"))).order_by(
        F("due_at").asc(nulls_last=True), "activated_at", "pk"
    )
    offset = (number - 1) * size
    rows = list(ordered.values_list("pk", "total")[offset : offset + size + 1])
    if not rows and number > 1:  # past the end: the last page
        last = max(1, -(-queryset.count() // size))
        if last < number:
            return _page_of_ids(queryset, last, size)
    total = rows[0][1] if rows else 0
    return Window(
        object_list=[pk for pk, _ in rows[:size]],
        number=number,
        size=size,
        count=total,
        capped=False,
        has_next_rows=len(rows) > size,
    )


def inbox_get(
    *,
    user: Any,
    role: str = "",
    template: str = "",
    sla: str = "",
    page: int = 1,
    size: int = INBOX_PAGE_SIZE,
) -> Inbox:
    """Page `page` of the phases `user` holds and the unclaimed ones their roles allow, by due time."""
    groups = group_names(user)
    holder = _holder(user, groups)
    assignments = RoleAssignment.objects.filter(holder, instance__state=InstanceState.RUNNING)
    assigned_roles = set(assignments.values_list("role", flat=True).distinct())
    plans = _plans(set(groups) | assigned_roles)
    wanted_groups = set(groups) if not role else set(groups) & {role}
    wanted_assigned = assigned_roles if not role else assigned_roles & {role}

    allowed = Q(pk__in=[])
    for version_id, plan in plans.items():
        phases = _human_phases(plan, wanted_groups)
        if phases is not None:
            allowed |= Q(instance__version_id=version_id) & phases
        for held in sorted(wanted_assigned - wanted_groups):
            phases = _human_phases(plan, {held})
            if phases is not None:
                given = assignments.filter(role=held).values("instance_id")
                allowed |= Q(instance__version_id=version_id, instance_id__in=given) & phases
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
    # The page's ids and the total first, from the index alone; then only those rows, with their instance.
    shown = _page_of_ids(queryset, page, size)
    by_id = PhaseRun.objects.select_related("instance__template", "assignee").in_bulk(shown.object_list)
    shown.object_list = [by_id[pk] for pk in shown.object_list if pk in by_id]
    # Plans of phases only here because they are assigned to the user, outside their roles.
    missing = {run.instance.version_id for run in shown.object_list} - set(plans)
    if missing:
        for version in TemplateVersion.objects.filter(pk__in=missing).defer("definition"):
            plans[version.pk] = plan_for(version)
    items = []
    for run in shown.object_list:
        plan = plans[run.instance.version_id]
        spec = plan.phases[run.phase_id]
        role_names = [(key, plan.roles.get(key, key)) for key in spec.roles]
        items.append(
            InboxItem(run=run, plan=plan, spec=spec, roles=role_names, mine=run.assignee_id == user.pk)
        )
    held_roles = set(groups) | assigned_roles
    role_names_all: dict[str, str] = {}
    for plan in plans.values():
        for key, name in plan.roles.items():
            if key in held_roles:
                role_names_all.setdefault(key, name)
    return Inbox(
        items=items,
        roles=sorted(role_names_all.items()),
        templates=sorted({(plan.key, plan.name) for plan in plans.values()}),
        page=shown,
    )
