"""Compile a template document into a frozen Plan: every default applied, every expression compiled."""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from engine.definition.calendar import BusinessCalendar
from engine.definition.durations import parse_duration
from engine.definition.expressions import Expression, compile_expression
from engine.definition.plan import (
    AUTOMATED_TYPES,
    Branch,
    Catch,
    Compensation,
    PhasePlan,
    Plan,
    RetryPolicy,
    SlaPolicy,
)
from engine.definition.problems import DocumentInvalid
from engine.definition.semantics import dependency_graph, topological_order
from engine.definition.validation import load_and_validate


def compile_template(document: object, *, activities: Collection[str] | None = None) -> Plan:
    """Validate a template document (a parsed value, or JSON text) and build its immutable plan.

    Raises DocumentInvalid with every problem when the document is not a valid template.
    """
    # Validation compiles every expression already; handing them over halves the cost of a big template.
    compiled: dict[str, Expression] = {}
    loaded, problems = load_and_validate(document, activities=activities, compiled=compiled)
    if problems:
        raise DocumentInvalid(problems)
    return build_plan(loaded, compiled=compiled)


def build_plan(
    document: Mapping[str, Any], *, compiled: MutableMapping[str, Expression] | None = None
) -> Plan:
    """The plan of a document that passed validation. Deterministic: no clock, no set order in the output.

    `compiled` maps CEL source to expressions compiled before (equal by source, so reuse is invisible).
    """
    phases = document["phases"]
    graph = dependency_graph(phases)
    position = {phase["id"]: index for index, phase in enumerate(phases)}
    context = _Context(defaults=document.get("defaults", {}), compiled={} if compiled is None else compiled)
    plans = {phase["id"]: _phase(phase, position[phase["id"]], context) for phase in phases}
    successors: dict[str, list[str]] = {pid: [] for pid in graph}
    for pid in graph:  # graph keys are in document order, so each successor list is too
        for dep in graph[pid]:
            successors[dep].append(pid)
    order = topological_order(graph)
    return Plan(
        key=document["key"],
        name=document["name"],
        description=document.get("description", ""),
        phases=MappingProxyType({pid: plans[pid] for pid in order}),
        predecessors=MappingProxyType(
            {pid: tuple(sorted(graph[pid], key=position.__getitem__)) for pid in order}
        ),
        successors=MappingProxyType({pid: tuple(successors[pid]) for pid in order}),
        params_schema=document.get("params"),
        roles=MappingProxyType({key: role["name"] for key, role in document.get("roles", {}).items()}),
        calendar=BusinessCalendar.from_document(document.get("calendar")),
        compensate_on_failure=bool(document.get("compensation", {}).get("on_failure", True)),
        business_key_reuse=document.get("business_key_reuse", "after_finish"),
    )


@dataclass(frozen=True)
class _Context:
    """What building one phase needs beyond the phase itself."""

    defaults: Mapping[str, Any]
    compiled: MutableMapping[str, Expression] = field(default_factory=dict)

    def expression(self, source: str) -> Expression:
        if source not in self.compiled:
            self.compiled[source] = compile_expression(source)
        return self.compiled[source]

    def optional_expression(self, source: str | None) -> Expression | None:
        return self.expression(source) if source is not None else None


def _phase(phase: Mapping[str, Any], position: int, context: _Context) -> PhasePlan:
    kind = phase["type"]
    automated = kind in AUTOMATED_TYPES or kind == "subworkflow" or (kind == "gate" and "activity" in phase)
    fields: dict[str, Any] = {
        "id": phase["id"],
        "type": kind,
        "name": phase.get("name") or phase["id"],
        "description": phase.get("description", ""),
        "depends_on": tuple(phase.get("depends_on", ())),
        "position": position,
    }
    if automated:
        fields.update(_automated_fields(phase, context))
    fields.update(_BUILDERS[kind](phase, context))
    fields.update(_routes(phase))
    if "compensate" in phase:
        fields["compensate"] = _compensation(phase["compensate"], context)
    return PhasePlan(**fields)


def _automated_fields(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    """What every phase that a worker runs shares: activity, input, retry, timeout, heartbeat, queue."""
    defaults = context.defaults
    inputs = {key: context.expression(source) for key, source in phase.get("input", {}).items()}
    return {
        "activity": phase.get("activity"),
        "input": MappingProxyType(inputs),
        "retry": _retry(phase.get("retry", {}), defaults.get("retry", {})),
        "timeout": _duration(phase.get("timeout", defaults.get("timeout"))),
        "heartbeat": _duration(phase.get("heartbeat")),
        "queue": phase.get("queue"),
        "on_fail": phase.get("on_fail", "fail"),
    }


def _human(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    sla = phase.get("sla", context.defaults.get("sla"))
    reopen_on = {outcome: spec["reopen"] for outcome, spec in phase.get("on_outcome", {}).items()}
    return {
        "roles": tuple(phase["roles"]),
        "sla": _sla(sla) if sla is not None else None,
        "form": phase.get("form"),
        "outcomes": tuple(phase.get("outcomes", ("done",))),
        "reopen_on": MappingProxyType(reopen_on),
    }


def _task(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    return {}  # everything a task has is shared with the other automated phases


def _gate(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    return {
        "check": context.optional_expression(phase.get("check")),
        "message": phase.get("message", ""),
        "action": phase.get("action", ""),
        "on_fail": phase.get("on_fail", "fail"),
    }


def _choice(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    branches = tuple(
        Branch(when=context.expression(branch["when"]), then=tuple(branch["then"]))
        for branch in phase["choices"]
    )
    return {"choices": branches, "otherwise": tuple(phase.get("otherwise", ()))}


def _map(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    concurrency = phase.get("max_concurrency")
    return {
        "items": context.expression(phase["items"]),
        "max_concurrency": int(concurrency) if concurrency is not None else None,
        "tolerated_failure": float(phase.get("tolerated_failure", 0.0)),
        **_child(phase, context),
    }


def _subworkflow(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    return _child(phase, context)


def _child(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    """The child template of a subworkflow phase, or of a map whose items are sub-workflows."""
    if "template" not in phase:
        return {}
    return {
        "template": phase["template"],
        "template_version": phase.get("version"),
        "business_key": context.optional_expression(phase.get("business_key")),
    }


def _routes(phase: Mapping[str, Any]) -> dict[str, Any]:
    on_fail = phase.get("on_fail")
    fields: dict[str, Any] = {}
    if isinstance(on_fail, Mapping):
        fields.update(on_fail="goto", fail_goto=on_fail["goto"])
    if "catch" in phase:
        fields["catch"] = tuple(Catch(tuple(c["errors"]), c["goto"]) for c in phase["catch"])
    return fields


def _compensation(spec: Mapping[str, Any], context: _Context) -> Compensation:
    inputs = {key: context.expression(source) for key, source in spec.get("input", {}).items()}
    return Compensation(
        activity=spec["activity"],
        input=MappingProxyType(inputs),
        retry=_retry(spec.get("retry", {}), context.defaults.get("retry", {})),
        timeout=_duration(spec.get("timeout", context.defaults.get("timeout"))),
        queue=spec.get("queue"),
    )


def _wait(phase: Mapping[str, Any], context: _Context) -> dict[str, Any]:
    return {
        "duration": _duration(phase.get("duration")),
        "until": context.optional_expression(phase.get("until")),
        "signal": phase.get("signal"),
        "signal_timeout": _duration(phase.get("timeout")),
        "signal_buffer": _duration(phase.get("buffer")),
        "roles": tuple(phase.get("roles", ())),  # who may deliver the signal
    }


_BUILDERS = {
    "human": _human,
    "task": _task,
    "gate": _gate,
    "choice": _choice,
    "map": _map,
    "wait": _wait,
    "subworkflow": _subworkflow,
}


def _retry(own: Mapping[str, Any], default: Mapping[str, Any]) -> RetryPolicy:
    """The phase's retry merged field by field over `defaults.retry`, over RetryPolicy's own defaults."""
    merged = {**default, **own}
    fields: dict[str, Any] = {}
    if "max_attempts" in merged:
        fields["max_attempts"] = int(merged["max_attempts"])
    for name in ("initial_interval", "max_interval"):
        if name in merged:
            fields[name] = parse_duration(merged[name])
    if "backoff" in merged:
        fields["backoff"] = float(merged["backoff"])
    if "jitter" in merged:
        fields["jitter"] = bool(merged["jitter"])
    if "retry_on" in merged:
        fields["retry_on"] = tuple(merged["retry_on"])
    return RetryPolicy(**fields)


def _sla(sla: Mapping[str, Any]) -> SlaPolicy:
    fields: dict[str, Any] = {
        "duration": parse_duration(sla["duration"]),
        "business_days": bool(sla.get("business_days", False)),
        "escalate_to": tuple(sla.get("escalate_to", ())),
    }
    if "at_risk" in sla:
        fields["at_risk"] = float(sla["at_risk"])
    return SlaPolicy(**fields)


def _duration(text: str | None) -> timedelta | None:
    return parse_duration(text) if text is not None else None
