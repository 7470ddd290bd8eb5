"""Human work on phases as services: claim, release, assign, complete, comment.

Each locks the instance, then asks `engine.access` whether this user may (the answer depends on the
roles they hold on that instance, read under the lock), then acts. The implementation is the runtime's
(`engine.runtime.human`); interfaces call it only through here. Administrator overrides on phases are in
`engine.services.overrides`.
"""

from __future__ import annotations

from engine.runtime.human import (
    MAX_COMMENT,
    comment_add,
    form_problems,
    phase_assign,
    phase_claim,
    phase_complete,
    phase_release,
)

__all__ = [
    "MAX_COMMENT",
    "comment_add",
    "form_problems",
    "phase_assign",
    "phase_claim",
    "phase_complete",
    "phase_release",
]
