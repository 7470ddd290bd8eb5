"""The activity registry, and the context an activity receives when a worker runs it.

    @activity("market.ingest")
    def ingest(input: dict, ctx: ActivityContext) -> dict:
        ...

An activity takes the phase's evaluated `input` mapping and a context, and returns a JSON object (or None for
`{}`). It says how a failure should be treated by raising one of `engine.errors`' TransientError,
RateLimitError(retry_after=...), DataError; any other exception counts as a `system` failure, except
ConnectionError and TimeoutError, which count as `transient`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ActivityFunction = Callable[[dict[str, Any], "ActivityContext"], Mapping[str, Any] | None]

_registry: dict[str, Activity] = {}


@dataclass(frozen=True)
class Activity:
    """A registered activity: its name in templates, the callable, and a line for the designer's picker."""

    name: str
    function: ActivityFunction
    description: str = ""
    # Optional JSON Schemas of the input mapping and of the returned object: the designer shows them, and
    # an operator's edited input is checked against `input_schema` before a retry.
    input_schema: Mapping[str, Any] | None = None
    output_schema: Mapping[str, Any] | None = None


def activity(
    name: str,
    *,
    description: str = "",
    input_schema: Mapping[str, Any] | None = None,
    output_schema: Mapping[str, Any] | None = None,
) -> Callable[[ActivityFunction], ActivityFunction]:
    """Register the decorated function under `name` (e.g. "market.ingest"), optionally with the JSON Schemas
    of its input and output."""
    for schema in (input_schema, output_schema):
        if schema is not None:
            from jsonschema import Draft202012Validator

            Draft202012Validator.check_schema(schema)  # a broken schema fails at import, not at a retry

    def register(function: ActivityFunction) -> ActivityFunction:
        existing = _registry.get(name)
        if existing is not None and existing.function.__qualname__ != function.__qualname__:
            raise ValueError(f"activity {name!r} is already registered by {existing.function.__module__}")
        summary = description or next(iter((function.__doc__ or "").strip().splitlines()), "")
        _registry[name] = Activity(
            name=name,
            function=function,
            description=summary,
            input_schema=input_schema,
            output_schema=output_schema,
        )
        return function

    return register


def get_activity(name: str) -> Activity:
    """The registered activity, or LookupError naming what is registered."""
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no activity {name!r} is registered") from None


def registered_activities() -> dict[str, Activity]:
    """A snapshot of the registry, sorted by name."""
    return dict(sorted(_registry.items()))


def activity_names() -> frozenset[str]:
    return frozenset(_registry)


def autodiscover() -> None:
    """Import the `activities` module of every installed app so their decorators run."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("activities")


@dataclass
class ActivityContext:
    """What an activity knows about the attempt it runs in, and how it talks back to the engine."""

    instance_id: str
    business_key: str | None
    phase_id: str
    attempt: int
    idempotency_key: str
    params: Mapping[str, Any]
    item_index: int | None = None
    last_checkpoint: Any = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("phasegate.activity"))
    _heartbeat: Callable[[], None] = field(default=lambda: None, repr=False)
    _checkpoint: Callable[[Any], None] = field(default=lambda state: None, repr=False)

    def heartbeat(self) -> None:
        """Say the attempt is alive and extend its lease; raises LeaseLost if the attempt was given away."""
        self._heartbeat()

    def checkpoint(self, state: Any) -> None:
        """Store JSON `state`; a retried attempt of the same phase sees it as `last_checkpoint`."""
        self._checkpoint(state)
        self.last_checkpoint = state
