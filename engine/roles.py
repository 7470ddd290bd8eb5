"""Who holds each role of a template: the group of the role's name, and per-instance role assignments.

A human phase whose roles nobody holds sits unclaimable until someone creates the group by hand; the
designer, publishing and the admin's template page say so first (`unheld_roles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, Q


@dataclass(frozen=True)
class RoleHolding:
    key: str
    name: str
    group_id: int | None  # the group named like the role, if it exists
    members: int  # its active members
    phases: tuple[str, ...]  # the human phases that need the role


def role_holdings(document: Any) -> list[RoleHolding]:
    """Each role a template declares or its human phases use, with its group and active members."""
    if not isinstance(document, dict):
        return []
    declared = document.get("roles") if isinstance(document.get("roles"), dict) else {}
    needed: dict[str, list[str]] = {key: [] for key in declared}
    for phase in document.get("phases") or []:
        if isinstance(phase, dict) and phase.get("type") == "human":
            for role in phase.get("roles") or []:
                if isinstance(role, str):
                    needed.setdefault(role, []).append(str(phase.get("id", "")))
    if not needed:
        return []
    active = Count("user", filter=Q(user__is_active=True))
    groups = {g.name: g for g in Group.objects.filter(name__in=list(needed)).annotate(members=active)}
    holdings = []
    for key, phases in needed.items():
        group = groups.get(key)
        info = declared.get(key)
        name = str(info.get("name") or key) if isinstance(info, dict) else key
        holdings.append(
            RoleHolding(key, name, group.pk if group else None, group.members if group else 0, tuple(phases))
        )
    return holdings


def unheld_roles(document: Any) -> list[dict[str, str]]:
    """Warnings (not errors: instance assignments can still give the role): roles of human phases that no
    active user holds through the group of the role's name."""
    warnings = []
    phases = document.get("phases") if isinstance(document, dict) else None
    index = {str(p.get("id")): i for i, p in enumerate(phases or []) if isinstance(p, dict)}
    for holding in role_holdings(document):
        if holding.members or not holding.phases:
            continue
        first = holding.phases[0]
        where = f"/phases/{index[first]}/roles" if first in index else "/roles"
        names = ", ".join(f"'{pid}'" for pid in holding.phases)
        group = "the group exists but has no active member" if holding.group_id else "there is no such group"
        warnings.append(
            {
                "path": where,
                "code": "role_without_members",
                "message": f"Nobody holds the role '{holding.key}' ({holding.name}): {group}, so {names} "
                f"cannot be claimed. Add people to the group '{holding.key}' (admin → Groups), or give the "
                "role on an instance.",
            }
        )
    return warnings


def active_users() -> Any:
    return get_user_model().objects.filter(is_active=True).order_by("username")
