"""One problem found in a template document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """A validation problem: where (a JSON pointer into the document), what kind (a stable code), and why."""

    path: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


def pointer(*parts: str | int) -> str:
    """Build an RFC 6901 JSON pointer from path parts."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


MAX_MESSAGE = 300


def truncate(message: str) -> str:
    """Keep a problem's message readable: at most MAX_MESSAGE characters."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


class DocumentInvalid(ValueError):
    """A template document with problems, raised by `compile_template`: every problem, in document order.

    The definition package knows nothing of the engine around it; the engine's own `TemplateInvalid`
    (engine.errors) is a DocumentInvalid that also carries an HTTP status and an error code.
    """

    def __init__(self, problems: Sequence[Problem], message: str = "") -> None:
        self.problems = tuple(problems)
        self.message = message or f"{len(self.problems)} problem(s) in template"
        self.extra = {"errors": [problem.as_dict() for problem in self.problems]}
        super().__init__(self.message)
