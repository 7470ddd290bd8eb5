"""Errors raised by the workflow engine and by activities. Pure Python: the definition package imports it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.definition.problems import Problem


class EngineError(Exception):
    """Base class for errors raised by the workflow engine."""

    code = "engine_error"

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.extra = extra


class TemplateInvalid(EngineError):
    """The template document failed schema or semantic validation."""

    code = "template_invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(self.problems)} problem(s) in template")
        self.extra = {"errors": [problem.as_dict() for problem in self.problems]}


class ParamsInvalid(EngineError):
    """The start parameters do not satisfy the template's `params` schema."""

    code = "params_invalid"


class FormInvalid(EngineError):
    """The submitted form data does not satisfy the phase's `form` schema."""

    code = "form_invalid"


class ScheduleInvalid(EngineError):
    """The schedule's fields cannot work (a bad cron expression, time zone, params or pattern)."""

    code = "schedule_invalid"


class NotFound(EngineError):
    """The object does not exist."""

    code = "not_found"


class TransitionRejected(EngineError):
    """The action is not allowed in the object's current state, or for this user."""

    code = "transition_rejected"


class PermissionDenied(EngineError):
    """The user may not perform this action."""

    code = "permission_denied"


class Conflict(EngineError):
    """Someone else changed the object first (a claim by another user, a concurrent transition)."""

    code = "conflict"


class VersionImmutable(EngineError):
    """A published or retired template version never changes; edit a new draft instead."""

    code = "version_immutable"


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
