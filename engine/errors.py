"""Errors raised by the workflow engine and by activities. Pure Python (no Django import at load time).

It sits above `engine.definition` (whose DocumentInvalid TemplateInvalid extends) and is never imported by it.

Each engine error carries its own `code` and HTTP `status`, so the API, the pages and the designer answer
with the same status for the same refusal through one mapping (`engine_error` below for what django-fsm
raises).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.definition.problems import DocumentInvalid, Problem


class EngineError(Exception):
    """Base class for errors raised by the workflow engine."""

    code = "engine_error"
    status = 400

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.extra = extra


class TemplateInvalid(EngineError, DocumentInvalid):
    """The template document failed schema or semantic validation."""

    code = "template_invalid"
    status = 400

    def __init__(self, problems: Sequence[Problem]) -> None:
        DocumentInvalid.__init__(self, problems)  # problems, message, extra; EngineError adds code and status


class ParamsInvalid(EngineError):
    """The start parameters do not satisfy the template's `params` schema."""

    code = "params_invalid"
    status = 400


class FormInvalid(EngineError):
    """The submitted form data does not satisfy the phase's `form` schema."""

    code = "form_invalid"
    status = 400


class ScheduleInvalid(EngineError):
    """The schedule's fields cannot work (a bad cron expression, time zone, params or pattern)."""

    code = "schedule_invalid"
    status = 400


class NotFound(EngineError):
    """The object does not exist."""

    code = "not_found"
    status = 404


class TransitionRejected(EngineError):
    """The action is not allowed in the object's current state, or for this user."""

    code = "transition_rejected"
    status = 409


class PermissionDenied(EngineError):
    """The user may not perform this action."""

    code = "permission_denied"
    status = 403


class Conflict(EngineError):
    """Someone else changed the object first (a claim by another user, a concurrent transition)."""

    code = "conflict"
    status = 409


class BusinessKeyUsed(Conflict):
    """The template never reuses a business key, and a finished instance used this one; nothing starts."""

    code = "business_key_used"


class VersionImmutable(EngineError):
    """A published or retired template version never changes; edit a new draft instead."""

    code = "version_immutable"
    status = 409


CONCURRENT_MESSAGE = "Someone else changed this while you were looking at it. Reload and try again."


def engine_error(exc: BaseException) -> EngineError | None:
    """`exc` as an engine error, with django-fsm's refusals as 409s; None for anything else.

    A lost optimistic-lock race (ConcurrentTransition) or a transition the state no longer allows
    (TransitionNotAllowed) can surface from deep in a service; every interface shows them the same way.
    """
    if isinstance(exc, EngineError):
        return exc
    from django_fsm import ConcurrentTransition, TransitionNotAllowed  # only when an interface asks

    if isinstance(exc, ConcurrentTransition):
        conflict = Conflict(CONCURRENT_MESSAGE)
        conflict.code = "concurrent_transition"
        return conflict
    if isinstance(exc, TransitionNotAllowed):
        rejected = TransitionRejected(str(exc))
        rejected.code = "transition_not_allowed"
        return rejected
    return None


# --- Errors an activity raises to say how its failure should be treated -----------------------------


class ActivityError(Exception):
    """Base class for failures an activity reports; `category` decides retrying (see TEMPLATE_FORMAT.md)."""

    category = "system"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.details = details


class TransientError(ActivityError):
    """A failure that may go away on its own: a connection reset, a timeout."""

    category = "transient"


class RateLimitError(ActivityError):
    """The other side asked us to slow down; `retry_after` seconds, when given, overrides the backoff."""

    category = "rate_limit"

    def __init__(self, message: str = "", *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class DataError(ActivityError):
    """The input is wrong; trying again cannot help. Never retried."""

    category = "data"


class SystemError_(ActivityError):  # noqa: N801 - the trailing underscore avoids shadowing the builtin
    """Anything else that went wrong inside the activity."""

    category = "system"


ERROR_CATEGORIES = ("transient", "rate_limit", "data", "system")


def error_category(exc: BaseException) -> str:
    """Map an exception to one of the contract's four categories."""
    if isinstance(exc, ActivityError):
        return exc.category
    if isinstance(exc, ConnectionError | TimeoutError):
        return "transient"
    return "system"
