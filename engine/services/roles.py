"""Roles given on one instance: grant and revoke, each a line in the instance's audit trail.

Who may is the admin's model permission on RoleAssignment (the only door that grants roles).
"""

from __future__ import annotations

from typing import Any

from engine.models import RoleAssignment
from engine.runtime.actors import Actor
from engine.runtime.journal import record, unit_of_work


def role_grant(*, assignment: RoleAssignment, user: Any) -> RoleAssignment:
    with unit_of_work():
        assignment.save()
        _audit(assignment, "role_grant", user)
    return assignment


def role_revoke(*, assignment: RoleAssignment, user: Any) -> None:
    with unit_of_work():
        _audit(assignment, "role_revoke", user)
        assignment.delete()


def _audit(obj: RoleAssignment, name: str, user: Any) -> None:
    holder = obj.user.get_username() if obj.user else f"group {obj.group.name}" if obj.group else "?"
    granted = {"role": obj.role, "holder": holder}
    before, after = ({}, granted) if name == "role_grant" else (granted, {})
    record(
        obj.instance,
        name,
        source=obj.instance.state,
        target=obj.instance.state,
        actor=Actor.of(user),
        reason=f"{'gave' if name == 'role_grant' else 'took back'} the role {obj.role} ({holder})",
        metadata={"before": before, "after": after},
        emit=False,
    )
