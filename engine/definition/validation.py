"""Validate a template document and report every problem in it, each with a stable code and a JSON pointer.

Validation runs in three steps. The limits come first and stop everything else; the schema and the semantic
rules then both run, so a person sees every problem at once (the semantic rules on a document that breaks
the schema report what they can read, and leave a field the schema already faults to the schema):

1. limits, before anything is parsed or serialised: `too_large` (over 1 MiB, nested deeper than 64 levels,
   more than 500 phases); `schema` at "" for text that is not JSON or a value that cannot be JSON;
2. the JSON Schema in `template.schema.json`: `schema`;
3. the rules a schema cannot express (they assume the shape is right):

   - `duplicate_id`: a phase id that an earlier phase already uses (at the later one's `id`);
   - `self_dependency`: a phase lists itself in `depends_on`;
   - `unknown_phase`: `depends_on`, a choice's `then`/`otherwise`, an `on_outcome` reopen target, an error
     route's `goto`, or an expression's `steps.<id>` names no phase;
   - `cycle`: `depends_on` edges form a cycle; one problem per cycle (found by a depth-first search, at most
     100), at the `depends_on` of its member that comes first in the document, naming the members in order;
   - `unknown_role`: a phase's `roles`, or an `escalate_to` (phase or `defaults`), names an undeclared role;
   - `unknown_activity`: a task, map or gate names an activity missing from `activities` (only when given);
   - `bad_expression`: a CEL field (`check`, `when`, `items`, `until`, each `input` value) does not compile;
   - `step_not_upstream`: an expression reads `steps.<id>` of a phase that does not finish before it;
   - `bad_duration`: a duration field with years, months or weeks, longer than ten years, or zero where a
     zero would never make sense (`timeout`, `heartbeat`, an SLA);
   - `bad_retry`: a retry whose `max_interval` is shorter than its `initial_interval` (after defaults);
   - `bad_timeout`: a `heartbeat` that is not shorter than the phase's timeout, so it could never fire;
   - `bad_form_schema`: a phase `form` or the top-level `params` is not a valid JSON Schema (2020-12);
   - `choice_target_not_downstream`: a choice target that does not list the choice in its `depends_on`;
   - `reopen_target_not_upstream`: an `on_outcome` reopen target that is not upstream of the phase;
   - `bad_outcome`: an `on_outcome` key that is not one of the phase's `outcomes`;
   - `bad_calendar`: a `calendar.timezone` that is not an IANA time zone;
   - `route_target_not_downstream`, `unreachable_catch`: error routes (`on_fail.goto`, `catch`);
   - `subworkflow_cycle`, `unknown_template`, `unknown_template_version`: sub-workflows (the last two, and
     cycles through other templates, only when `templates` is given); see `composition.py`.

   Upstream checks (`step_not_upstream`, `reopen_target_not_upstream`) skip phases on or after a cycle:
   "upstream" means nothing there, and the cycle is reported already.

`internal_error` means the validator itself failed; it is logged. Validation never raises.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from typing import Any

from engine.definition.expressions import Expression
from engine.definition.limits import MAX_BYTES, MAX_DEPTH, MAX_PHASES, load
from engine.definition.problems import Problem
from engine.definition.schema_check import schema_problems
from engine.definition.semantics import dependency_graph, semantic_problems, topological_order

INTERNAL_ERROR = Problem("", "internal_error", "the validator failed on this document; the error is logged")
_INDEX = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²", which int() refuses

logger = logging.getLogger(__name__)

Parts = tuple[str | int, ...]


def validate(
    document: object,
    *,
    activities: Collection[str] | None = None,
    templates: Mapping[str, Mapping[int, Collection[str]]] | None = None,
) -> list[Problem]:
    """Every problem in `document`, sorted by path then code; [] when it is a valid template.

    `document` is a parsed JSON value, or JSON text as str or bytes. `activities`, when given, is the set of
    registered activity names that tasks, maps and gates may use. `templates`, when given, maps each published
    template key to {version number: the template keys that version calls}, for the sub-workflow checks.
    """
    return load_and_validate(document, activities=activities, templates=templates)[1]


def load_and_validate(
    document: object,
    *,
    activities: Collection[str] | None = None,
    templates: Mapping[str, Mapping[int, Collection[str]]] | None = None,
    compiled: MutableMapping[str, Expression] | None = None,
) -> tuple[Any, list[Problem]]:
    """The document as plain JSON values (a private copy) and its problems; the compiler builds from both.

    `compiled`, when given, receives every expression that compiled (source -> Expression) for reuse.
    """
    try:
        loaded, problems = load(document)
        if problems:
            return loaded, sort_problems(problems)
        problems = schema_problems(loaded)
        if not problems:
            problems = semantic_problems(
                loaded, activities=activities, templates=templates, compiled=compiled
            )
        else:
            problems += semantics_despite_schema(loaded, problems, activities=activities, templates=templates)
        return loaded, sort_problems(problems)
    except Exception:  # the contract is to report, never to raise; a bug here must still be seen, so log it
        logger.exception("template validation failed unexpectedly")
        return None, [INTERNAL_ERROR]


def semantics_despite_schema(
    document: Any,
    schema: Sequence[Problem],
    *,
    activities: Collection[str] | None,
    templates: Mapping[str, Mapping[int, Collection[str]]] | None,
) -> list[Problem]:
    """The semantic problems of a document that also breaks the schema, so a person sees every problem at
    once (a cycle and a bad CEL expression beside a missing name). The rules assume the right shape, so a
    rule that trips over a wrong one reports nothing, and a problem where the schema already reported one
    (the same field or inside it) is left to the schema's."""
    try:
        found = semantic_problems(document, activities=activities, templates=templates)
    except Exception:  # a shape the rules cannot read: the schema's problems say what to fix first
        logger.debug("semantic checks skipped on a document that breaks the schema", exc_info=True)
        return []
    taken = {problem.path for problem in schema}

    def faulted(path: str) -> bool:
        # the same field, inside it, or a part of a phase that holds it (a catch whose category is wrong
        # is "unreachable" only because of that): a whole phase or the template still gets its own
        deep = path.count("/") >= 3
        return any(
            path == t or path.startswith(t + "/") or (deep and t.startswith(path + "/")) for t in taken
        )

    return [p for p in found if not faulted(p.path)]


def sort_problems(problems: Sequence[Problem]) -> list[Problem]:
    """Deduplicated, by path (array indexes compared as numbers), then code, then message."""
    return sorted(dict.fromkeys(problems), key=lambda p: (_pointer_key(p.path), p.code, p.message))


def _pointer_key(path: str) -> tuple[tuple[int, int, str], ...]:
    parts = path.split("/")[1:]
    return tuple((0, int(part), "") if _INDEX.fullmatch(part) else (1, 0, part) for part in parts)


__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_PHASES",
    "dependency_graph",
    "load_and_validate",
    "sort_problems",
    "topological_order",
    "validate",
]
