"""The compiled, immutable form of a template that the runtime works from."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from engine.definition.calendar import BusinessCalendar
from engine.definition.expressions import Expression

PHASE_TYPES = ("human", "task", "gate", "choice", "map", "wait", "subworkflow")
AUTOMATED_TYPES = frozenset({"task", "map"})
ON_FAIL = ("fail", "suspend", "continue", "goto")  # "goto": `on_fail` was {"goto": ...}, see fail_goto
DEFAULT_RETRY_ON = ("transient", "rate_limit", "system")

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class RetryPolicy:
    """When and how often a failed attempt runs again."""

    max_attempts: int = 3
    initial_interval: timedelta = timedelta(seconds=10)
    backoff: float = 2.0
    max_interval: timedelta = timedelta(minutes=10)
    jitter: bool = False
    retry_on: tuple[str, ...] = DEFAULT_RETRY_ON

    def should_retry(self, *, category: str, attempt: int) -> bool:
        """Whether attempt number `attempt` (1-based) that failed with `category` gets another try."""
        return category != "data" and category in self.retry_on and attempt < self.max_attempts

    def delay(self, attempt: int, *, rng: random.Random | None = None) -> timedelta:
        """The wait before attempt `attempt + 1`: min(initial * backoff^(attempt-1), max), full jitter."""
        base = self.initial_interval.total_seconds() * self.backoff ** max(attempt - 1, 0)
        capped = min(base, self.max_interval.total_seconds())
        if self.jitter:
            capped = (rng or random).uniform(0, capped)
        return timedelta(seconds=capped)


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class SlaPolicy:
    """How long a phase may take once it is active, and who hears about it when it runs late."""

    duration: timedelta
    business_days: bool = False
    at_risk: float = 0.8
    escalate_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Branch:
    """One branch of a `choice`: when `when` is true, the phases in `then` run."""

    when: Expression
    then: tuple[str, ...]


@dataclass(frozen=True)
class Catch:
    """One `catch` entry: a failure whose category is in `errors` (or `any` is) is routed to `goto`."""

    errors: tuple[str, ...]
    goto: str

    def matches(self, category: str) -> bool:
        return "any" in self.errors or category in self.errors


@dataclass(frozen=True)
class Compensation:
    """The activity that undoes a completed phase, run with its own retries."""

    activity: str
    input: Mapping[str, Expression] = field(default_factory=lambda: EMPTY)
    retry: RetryPolicy = NO_RETRY
    timeout: timedelta | None = None
    queue: str | None = None


@dataclass(frozen=True)
class PhasePlan:
    """One phase with every default applied and every expression compiled."""

    id: str
    type: str
    name: str
    description: str = ""
    depends_on: tuple[str, ...] = ()
    position: int = 0  # index in the document's `phases` list, for display order and JSON pointers
    # human
    roles: tuple[str, ...] = ()
    sla: SlaPolicy | None = None
    form: Mapping[str, Any] | None = None
    outcomes: tuple[str, ...] = ("done",)
    reopen_on: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # outcome -> phase id to reopen
    # task, map, gate with an activity
    activity: str | None = None
    input: Mapping[str, Expression] = field(default_factory=lambda: EMPTY)
    retry: RetryPolicy = NO_RETRY
    timeout: timedelta | None = None
    heartbeat: timedelta | None = None
    queue: str | None = None
    # gate
    check: Expression | None = None
    message: str = ""
    action: str = ""
    on_fail: str = "fail"
    # choice
    choices: tuple[Branch, ...] = ()
    otherwise: tuple[str, ...] = ()
    # map
    items: Expression | None = None
    max_concurrency: int | None = None
    tolerated_failure: float = 0.0
    # wait
    duration: timedelta | None = None
    until: Expression | None = None
    signal: str | None = None
    signal_timeout: timedelta | None = None
    signal_buffer: timedelta | None = None  # None: the PHASEGATE_SIGNAL_BUFFER setting decides
    # subworkflow (and a map whose items are sub-workflows): the child template and its business key
    template: str | None = None
    template_version: int | None = None
    business_key: Expression | None = None
    # error routes and compensation (task, map, gate, subworkflow; compensation also on human phases)
    catch: tuple[Catch, ...] = ()
    fail_goto: str | None = None
    compensate: Compensation | None = None

    def route_for(self, category: str) -> str | None:
        """The handler phase a failure of `category` goes to: the first matching `catch`, then `on_fail`."""
        for entry in self.catch:
            if entry.matches(category):
                return entry.goto
        return self.fail_goto

    @property
    def route_targets(self) -> tuple[str, ...]:
        """Every handler phase this phase's failures may go to."""
        return tuple(dict.fromkeys([*(entry.goto for entry in self.catch), *filter(None, [self.fail_goto])]))

    @property
    def calls_template(self) -> bool:
        """Whether this phase starts child instances (a subworkflow, or a map of sub-workflows)."""
        return self.template is not None

    @property
    def is_automated(self) -> bool:
        """Whether a worker runs this phase (a task, a map of activities, or a gate backed by an activity)."""
        if self.type == "map":
            return self.activity is not None
        return self.type in AUTOMATED_TYPES or (self.type == "gate" and self.activity is not None)

    @property
    def choice_targets(self) -> tuple[str, ...]:
        """Every phase a choice may pick, in document order of its branches."""
        targets = [target for branch in self.choices for target in branch.then] + list(self.otherwise)
        return tuple(dict.fromkeys(targets))


@dataclass(frozen=True)
class Plan:
    """A validated template, compiled. Deterministic: the same document always gives an equal plan."""

    key: str
    name: str
    description: str
    phases: Mapping[str, PhasePlan]  # in topological order (ties broken by document position)
    predecessors: Mapping[str, tuple[str, ...]]
    successors: Mapping[str, tuple[str, ...]]
    params_schema: Mapping[str, Any] | None = None
    roles: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # role key -> display name
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    compensate_on_failure: bool = True
    # "after_finish": a business key is one unfinished instance's; "never": it stays its first instance's.
    business_key_reuse: str = "after_finish"

    @property
    def order(self) -> tuple[str, ...]:
        """Phase ids in topological order."""
        return tuple(self.phases)

    @property
    def roots(self) -> tuple[str, ...]:
        """Phases with no dependencies: ready when an instance starts."""
        return tuple(pid for pid in self.phases if not self.predecessors[pid])

    def downstream(self, phase_id: str) -> tuple[str, ...]:
        """Every phase reachable from `phase_id` through `depends_on` edges, in topological order."""
        reached: set[str] = set()
        frontier = [phase_id]
        while frontier:
            for successor in self.successors[frontier.pop()]:
                if successor not in reached:
                    reached.add(successor)
                    frontier.append(successor)
        return tuple(pid for pid in self.phases if pid in reached)

    def upstream(self, phase_id: str) -> tuple[str, ...]:
        """Every phase `phase_id` depends on, directly or not, in topological order."""
        reached: set[str] = set()
        frontier = [phase_id]
        while frontier:
            for predecessor in self.predecessors[frontier.pop()]:
                if predecessor not in reached:
                    reached.add(predecessor)
                    frontier.append(predecessor)
        return tuple(pid for pid in self.phases if pid in reached)
