"""Step 3 of validation: the rules a JSON Schema cannot express (they assume the shape is right)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from heapq import heapify, heappop, heappush
from typing import Any

from engine.definition.calendar import is_time_zone
from engine.definition.composition import (
    route_problems,
    route_references,
    subworkflow_problems,
)
from engine.definition.durations import DurationError, format_duration, parse_duration
from engine.definition.expressions import Expression, ExpressionError, compile_expression
from engine.definition.problems import Problem, pointer, truncate
from engine.definition.schema_check import from_schema_error, metaschema_validator

MAX_CYCLES = 100


Parts = tuple[str | int, ...]


# --- Step 3: semantic checks --------------------------------------------------------------------------------


def dependency_graph(phases: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Phase id -> the ids it depends on, in document order; unknown ids and self-references are left out.

    For a duplicated id only its first phase counts (the duplicate is reported on its own).
    """
    declared: dict[str, Sequence[str]] = {}
    for phase in phases:
        declared.setdefault(phase["id"], phase.get("depends_on", ()))
    return {
        pid: tuple(dict.fromkeys(dep for dep in deps if dep in declared and dep != pid))
        for pid, deps in declared.items()
    }


def topological_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Ids each after all its dependencies, ties broken by the graph's own order (deterministic).

    Ids on a cycle, or after one, are missing from the result.
    """
    ids = list(graph)
    position = {pid: index for index, pid in enumerate(ids)}
    remaining = {pid: len(deps) for pid, deps in graph.items()}
    dependents: dict[str, list[str]] = {pid: [] for pid in ids}
    for pid, deps in graph.items():
        for dep in deps:
            dependents[dep].append(pid)
    ready = [position[pid] for pid in ids if remaining[pid] == 0]
    heapify(ready)
    order = []
    while ready:
        pid = ids[heappop(ready)]
        order.append(pid)
        for dependent in dependents[pid]:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                heappush(ready, position[dependent])
    return order


@dataclass(frozen=True)
class _Template:
    """A schema-valid document with the indexes the checks share."""

    document: Mapping[str, Any]
    phases: Sequence[Mapping[str, Any]]
    position: Mapping[str, int]  # id -> position of the first phase with that id
    graph: Mapping[str, tuple[str, ...]]
    ancestors: Mapping[str, int]  # id -> bitset of ancestor positions; absent on or after a cycle
    compiled: MutableMapping[str, Expression]  # CEL source -> expression; a source repeated compiles once

    @classmethod
    def of(cls, document: Mapping[str, Any], *, compiled: MutableMapping[str, Expression]) -> _Template:
        phases = document["phases"]
        position: dict[str, int] = {}
        for index, phase in enumerate(phases):
            position.setdefault(phase["id"], index)
        graph = dependency_graph(phases)
        ancestors: dict[str, int] = {}
        for pid in topological_order(graph):  # bitsets keep this linear in edges even for 500 dense phases
            bits = 0
            for dep in graph[pid]:
                bits |= ancestors[dep] | (1 << position[dep])
            ancestors[pid] = bits
        return cls(document, phases, position, graph, ancestors, compiled)

    def is_upstream(self, candidate: str, *, of: str) -> bool | None:
        """Whether `candidate` must finish before `of` starts; None when that is unknowable (a cycle)."""
        if of not in self.ancestors:
            return None
        return bool(self.ancestors[of] >> self.position[candidate] & 1)

    def declared_roles(self) -> Collection[str]:
        roles = self.document.get("roles", {})
        return roles.keys() if isinstance(roles, dict) else ()


Check = Callable[[_Template], Iterator[Problem]]


def semantic_problems(
    document: Mapping[str, Any],
    *,
    activities: Collection[str] | None = None,
    templates: Mapping[str, Mapping[int, Collection[str]]] | None = None,
    compiled: MutableMapping[str, Expression] | None = None,
) -> list[Problem]:
    """Pass 3: the rules the schema cannot express. Assumes `document` passed the schema.

    `templates`, when given, maps each published template key to its version numbers and, for each, the
    template keys that version calls as sub-workflows (see `composition.subworkflow_problems`).
    """
    template = _Template.of(document, compiled={} if compiled is None else compiled)
    checks: list[Check] = [
        _duplicate_ids,
        _phase_references,
        _cycles,
        _roles,
        _expressions,
        _durations,
        _json_schemas,
        _choice_targets,
        _outcomes,
        _calendar,
        route_problems,
    ]
    problems = [problem for check in checks for problem in check(template)]
    problems.extend(subworkflow_problems(template, templates))
    if activities is not None:
        problems.extend(_activities(template, frozenset(activities)))
    return problems


def _duplicate_ids(template: _Template) -> Iterator[Problem]:
    for index, phase in enumerate(template.phases):
        first = template.position[phase["id"]]
        if first != index:
            yield Problem(
                pointer("phases", index, "id"),
                "duplicate_id",
                f"phase id {phase['id']!r} is already used by /phases/{first}",
            )


def _references(phase: Mapping[str, Any], index: int) -> Iterator[tuple[Parts, str]]:
    """Every phase id that `phase` names, with the path parts of where it names it."""
    for k, dep in enumerate(phase.get("depends_on", ())):
        yield ("phases", index, "depends_on", k), dep
    for c, branch in enumerate(phase.get("choices", ())):
        for k, target in enumerate(branch["then"]):
            yield ("phases", index, "choices", c, "then", k), target
    for k, target in enumerate(phase.get("otherwise", ())):
        yield ("phases", index, "otherwise", k), target
    for outcome, spec in phase.get("on_outcome", {}).items():
        yield ("phases", index, "on_outcome", outcome, "reopen"), spec["reopen"]
    yield from route_references(phase, index)


def _phase_references(template: _Template) -> Iterator[Problem]:
    for index, phase in enumerate(template.phases):
        for parts, target in _references(phase, index):
            if target not in template.position:
                yield Problem(pointer(*parts), "unknown_phase", f"there is no phase {target!r}")
            elif target == phase["id"] and parts[2] == "depends_on":
                yield Problem(pointer(*parts), "self_dependency", f"phase {target!r} cannot depend on itself")


def _cycles(template: _Template) -> Iterator[Problem]:
    seen: set[tuple[str, ...]] = set()
    for cycle in _find_cycles(template.graph):
        first = min(cycle, key=template.position.__getitem__)
        start = cycle.index(first)
        canonical = cycle[start:] + cycle[:start]
        if canonical in seen:
            continue
        if len(seen) == MAX_CYCLES:  # a hostile graph has ~E of them; a person needs the first few
            return
        seen.add(canonical)
        chain = " -> ".join((*canonical, first))
        message = f"depends_on forms a cycle: {chain} (each depends on the next)"
        yield Problem(pointer("phases", template.position[first], "depends_on"), "cycle", message)


def _find_cycles(graph: Mapping[str, Sequence[str]]) -> Iterator[tuple[str, ...]]:
    """One cycle per back edge of an iterative depth-first search in graph order: linear, deterministic."""
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path = [root]
        on_path = {root: 0}
        stack = [iter(graph[root])]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                stack.pop()
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
            elif dep in on_path:
                yield tuple(path[on_path[dep] :])
            elif dep not in done:
                on_path[dep] = len(path)
                path.append(dep)
                stack.append(iter(graph[dep]))


def _roles(template: _Template) -> Iterator[Problem]:
    declared = template.declared_roles()
    references: list[tuple[Parts, str]] = []
    default_sla = template.document.get("defaults", {}).get("sla", {})
    references += [
        (("defaults", "sla", "escalate_to", k), role)
        for k, role in enumerate(default_sla.get("escalate_to", ()))
    ]
    for index, phase in enumerate(template.phases):
        references += [(("phases", index, "roles", k), role) for k, role in enumerate(phase.get("roles", ()))]
        escalate_to = phase.get("sla", {}).get("escalate_to", ())
        references += [
            (("phases", index, "sla", "escalate_to", k), role) for k, role in enumerate(escalate_to)
        ]
    for parts, role in references:
        if role not in declared:
            yield Problem(pointer(*parts), "unknown_role", f"role {role!r} is not declared in roles")


def _activities(template: _Template, registered: frozenset[str]) -> Iterator[Problem]:
    for index, phase in enumerate(template.phases):
        named: list[tuple[tuple[str | int, ...], Any]] = [
            (("phases", index, "activity"), phase.get("activity"))
        ]
        named.append(
            (("phases", index, "compensate", "activity"), phase.get("compensate", {}).get("activity"))
        )
        for parts, name in named:
            if name is not None and name not in registered:
                close = difflib.get_close_matches(name, sorted(registered), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                yield Problem(
                    pointer(*parts), "unknown_activity", f"no activity {name!r} is registered{hint}"
                )


def _expression_fields(phase: Mapping[str, Any], index: int) -> Iterator[tuple[Parts, str]]:
    for name in ("check", "items", "until"):
        if name in phase:
            yield ("phases", index, name), phase[name]
    for c, branch in enumerate(phase.get("choices", ())):
        yield ("phases", index, "choices", c, "when"), branch["when"]
    for key, source in phase.get("input", {}).items():
        yield ("phases", index, "input", key), source
    if "business_key" in phase:
        yield ("phases", index, "business_key"), phase["business_key"]
    for key, source in phase.get("compensate", {}).get("input", {}).items():
        yield ("phases", index, "compensate", "input", key), source


def _expressions(template: _Template) -> Iterator[Problem]:
    for index, phase in enumerate(template.phases):
        for parts, source in _expression_fields(phase, index):
            where = pointer(*parts)
            try:
                expression = template.compiled.get(source) or compile_expression(source)
            except ExpressionError as exc:
                yield Problem(where, "bad_expression", truncate(str(exc)))
                continue
            template.compiled[source] = expression
            for step in expression.referenced_steps:
                if step not in template.position:
                    yield Problem(
                        where,
                        "unknown_phase",
                        f"the expression reads steps.{step}, but there is no phase {step!r}",
                    )
                elif step == phase["id"] and parts[2] == "compensate":
                    continue  # a compensation runs after its phase completed, and reads what it did
                elif step == phase["id"] or template.is_upstream(step, of=phase["id"]) is False:
                    message = (
                        f"the expression reads steps.{step}, but {step!r} is not upstream of {phase['id']!r}"
                    )
                    yield Problem(where, "step_not_upstream", message)


# Durations that are meaningless at zero; a zero `duration` of a wait or a zero retry interval is allowed.
_POSITIVE = frozenset({"timeout", "heartbeat", "sla"})


def _duration_fields(template: _Template) -> Iterator[tuple[Parts, str]]:
    defaults = template.document.get("defaults", {})
    yield from _owner_durations(("defaults",), defaults)
    for index, phase in enumerate(template.phases):
        yield from _owner_durations(("phases", index), phase)
        if "compensate" in phase:
            yield from _owner_durations(("phases", index, "compensate"), phase["compensate"])
        for name in ("duration", "heartbeat", "buffer"):
            if name in phase:
                yield ("phases", index, name), phase[name]


def _owner_durations(base: Parts, owner: Mapping[str, Any]) -> Iterator[tuple[Parts, str]]:
    """The durations a phase shares with `defaults`: timeout, sla.duration, retry intervals."""
    if "timeout" in owner:
        yield (*base, "timeout"), owner["timeout"]
    if "sla" in owner:
        yield (*base, "sla", "duration"), owner["sla"]["duration"]
    for name in ("initial_interval", "max_interval"):
        if name in owner.get("retry", {}):
            yield (*base, "retry", name), owner["retry"][name]


def _durations(template: _Template) -> Iterator[Problem]:
    parsed: dict[Parts, timedelta] = {}
    for parts, text in _duration_fields(template):
        try:
            parsed[parts] = value = parse_duration(text)
        except DurationError as exc:
            yield Problem(pointer(*parts), "bad_duration", str(exc))
            continue
        kind = parts[-2] if parts[-1] == "duration" else parts[-1]
        if not value and kind in _POSITIVE:
            yield Problem(pointer(*parts), "bad_duration", f"{kind} must be longer than zero")
    yield from _retry_intervals(template, parsed)
    yield from _heartbeats(template, parsed)


def _retry_intervals(template: _Template, parsed: Mapping[Parts, timedelta]) -> Iterator[Problem]:
    owners: list[Parts] = [("defaults",)] + [("phases", index) for index in range(len(template.phases))]
    owners += [
        ("phases", i, "compensate") for i, phase in enumerate(template.phases) if "compensate" in phase
    ]
    for owner in owners:
        # A phase's own interval is merged over the default one, field by field, as the compiler does.
        fields = {}
        for name in ("initial_interval", "max_interval"):
            for source in (owner, ("defaults",)):
                if (*source, "retry", name) in parsed:
                    fields[name] = (source, parsed[(*source, "retry", name)])
                    break
        if len(fields) < 2 or all(source != owner for source, _ in fields.values()):
            continue
        (_, initial), (max_source, maximum) = fields["initial_interval"], fields["max_interval"]
        if maximum < initial:
            name = "max_interval" if max_source == owner else "initial_interval"
            shorter = (
                f"{format_duration(maximum)} is shorter than initial_interval {format_duration(initial)}"
            )
            message = f"max_interval {shorter}"
            yield Problem(pointer(*owner, "retry", name), "bad_retry", message)


def _heartbeats(template: _Template, parsed: Mapping[Parts, timedelta]) -> Iterator[Problem]:
    default_timeout = parsed.get(("defaults", "timeout"))
    for index in range(len(template.phases)):
        heartbeat = parsed.get(("phases", index, "heartbeat"))
        timeout = parsed.get(("phases", index, "timeout"), default_timeout)
        if heartbeat and timeout and heartbeat >= timeout:
            longer = (
                f"{format_duration(heartbeat)} is not shorter than the timeout {format_duration(timeout)}"
            )
            message = f"heartbeat {longer}"
            yield Problem(pointer("phases", index, "heartbeat"), "bad_timeout", message)


def _json_schemas(template: _Template) -> Iterator[Problem]:
    schemas: list[tuple[Parts, Any]] = []
    if "params" in template.document:
        schemas.append((("params",), template.document["params"]))
    schemas += [
        (("phases", i, "form"), phase["form"]) for i, phase in enumerate(template.phases) if "form" in phase
    ]
    for base, schema in schemas:
        for error in metaschema_validator().iter_errors(schema):
            yield from from_schema_error(error, code="bad_form_schema", base=base)


def _choice_targets(template: _Template) -> Iterator[Problem]:
    first_phase = {phase["id"]: phase for phase in reversed(template.phases)}
    for index, phase in enumerate(template.phases):
        if phase["type"] != "choice":
            continue
        for parts, target in _references(phase, index):
            if parts[2] == "depends_on" or target not in first_phase:
                continue
            if phase["id"] not in first_phase[target].get("depends_on", ()):
                message = (
                    f"{target!r} is a target of choice {phase['id']!r} but does not list it in depends_on"
                )
                yield Problem(pointer(*parts), "choice_target_not_downstream", message)


def _outcomes(template: _Template) -> Iterator[Problem]:
    for index, phase in enumerate(template.phases):
        outcomes = phase.get("outcomes", ["done"])
        for outcome, spec in phase.get("on_outcome", {}).items():
            if outcome not in outcomes:
                where = pointer("phases", index, "on_outcome", outcome)
                yield Problem(where, "bad_outcome", f"{outcome!r} is not one of the outcomes {outcomes}")
            target = spec["reopen"]
            if target in template.position and template.is_upstream(target, of=phase["id"]) is False:
                where = pointer("phases", index, "on_outcome", outcome, "reopen")
                message = f"{target!r} cannot be reopened from {phase['id']!r}: it is not upstream of it"
                yield Problem(where, "reopen_target_not_upstream", message)


def _calendar(template: _Template) -> Iterator[Problem]:
    zone = template.document.get("calendar", {}).get("timezone")
    if zone is not None and not is_time_zone(zone):
        yield Problem(
            "/calendar/timezone", "bad_calendar", f"{zone!r} is not an IANA time zone, e.g. Europe/Paris"
        )
