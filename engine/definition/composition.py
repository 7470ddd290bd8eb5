"""Semantic checks of the composition extensions: error routes (`on_fail.goto`, `catch`) and sub-workflows.

- `route_target_not_downstream`: a `goto` target must list the failing phase in its `depends_on`, as a
  choice's targets list the choice: the handler runs instead of the phase's other successors.
- `unreachable_catch`: a `catch` entry that can never match, because an earlier entry takes every category
  it names (or `any`), or because the phase's type never fails with them.
- `subworkflow_cycle`: a template that calls itself, directly or through the templates it calls.
- `unknown_template` / `unknown_template_version`: a called template, or its pinned version, is not
  published (only checked when the caller passes the published templates).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from engine.definition.problems import Problem, pointer

if TYPE_CHECKING:
    from engine.definition.semantics import _Template

Parts = tuple[str | int, ...]

# The categories each kind of phase can fail with; `catch` entries naming only others never match.
_ACTIVITY_CATEGORIES = frozenset({"transient", "rate_limit", "data", "system"})
_CATEGORIES_BY_TYPE: Mapping[str, frozenset[str]] = {
    "task": _ACTIVITY_CATEGORIES,
    "map": _ACTIVITY_CATEGORIES | {"child"},
    "gate": _ACTIVITY_CATEGORIES | {"gate"},
    "subworkflow": frozenset({"child", "data", "system"}),
}


def route_references(phase: Mapping[str, Any], index: int) -> Iterator[tuple[Parts, str]]:
    """The handler phases a phase's failure may be routed to, with the path parts of where it names them."""
    on_fail = phase.get("on_fail")
    if isinstance(on_fail, Mapping):
        yield ("phases", index, "on_fail", "goto"), on_fail["goto"]
    for k, entry in enumerate(phase.get("catch", ())):
        yield ("phases", index, "catch", k, "goto"), entry["goto"]


def route_problems(template: _Template) -> Iterator[Problem]:
    for index, phase in enumerate(template.phases):
        for parts, target in route_references(phase, index):
            if target not in template.position:
                continue  # unknown_phase, reported with the other references
            handler = template.phases[template.position[target]]
            if phase["id"] not in handler.get("depends_on", ()):
                message = f"{target!r} handles failures of {phase['id']!r} but does not list it in depends_on"
                yield Problem(pointer(*parts), "route_target_not_downstream", message)
        yield from _unreachable_catches(phase, index)


def _unreachable_catches(phase: Mapping[str, Any], index: int) -> Iterator[Problem]:
    possible = _CATEGORIES_BY_TYPE.get(phase["type"], _ACTIVITY_CATEGORIES)
    if phase["type"] == "gate" and "activity" not in phase:
        possible = frozenset({"gate", "data"})  # a CEL gate fails only on its check or its expression
    taken: set[str] = set()
    for k, entry in enumerate(phase.get("catch", ())):
        errors = set(entry["errors"])
        matches = set(possible) if "any" in errors else errors & possible
        if not matches - taken:
            if taken >= possible:
                why = "earlier entries already catch every error this phase can have"
            elif not errors & possible and "any" not in errors:
                why = f"a {phase['type']} phase never fails with {', '.join(sorted(errors))}"
            else:
                why = "earlier entries already catch these errors"
            yield Problem(pointer("phases", index, "catch", k), "unreachable_catch", f"never matches: {why}")
        taken |= matches


def subworkflow_problems(
    template: _Template, templates: Mapping[str, Mapping[int, Collection[str]]] | None
) -> Iterator[Problem]:
    own_key = template.document["key"]
    for index, phase in enumerate(template.phases):
        called = phase.get("template")
        if called is None:
            continue
        where = pointer("phases", index, "template")
        if called == own_key:
            yield Problem(where, "subworkflow_cycle", f"template {own_key!r} cannot call itself")
            continue
        if templates is None:
            continue
        if called not in templates:
            close = difflib.get_close_matches(called, sorted(templates), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield Problem(where, "unknown_template", f"no published template {called!r}{hint}")
            continue
        version = phase.get("version")
        if version is not None and version not in templates[called]:
            message = f"template {called!r} has no published version {version}"
            yield Problem(pointer("phases", index, "version"), "unknown_template_version", message)
        chain = _path_back(called, own_key, templates)
        if chain is not None:
            message = f"sub-workflows call back into {own_key!r}: {' -> '.join((own_key, *chain))}"
            yield Problem(where, "subworkflow_cycle", message)


def calls(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The template keys a template document calls as sub-workflows, in document order."""
    phases = document.get("phases", ()) if isinstance(document, Mapping) else ()
    keys = (p.get("template") for p in phases if isinstance(p, Mapping))
    return tuple(dict.fromkeys(key for key in keys if isinstance(key, str)))


def _path_back(
    start: str, target: str, templates: Mapping[str, Mapping[int, Collection[str]]]
) -> tuple[str, ...] | None:
    """The shortest chain of calls from `start` to `target` over any published version, or None."""
    parent: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for key in frontier:
            callees = sorted({c for called in templates.get(key, {}).values() for c in called})
            for callee in callees:
                if callee in parent:
                    continue
                parent[callee] = key
                if callee == target:
                    chain = [callee]
                    node: str | None = key
                    while node is not None:
                        chain.append(node)
                        node = parent[node]
                    return tuple(reversed(chain))
                following.append(callee)
        frontier = following
    return None
