"""CEL expressions, compiled and evaluated with cel-python. Nothing from a template reaches Python's eval."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from engine.definition.budget import Budget, BudgetedEvaluator, BudgetExceeded

MAX_EXPRESSION_LENGTH = 4096
_STEP_REFERENCE = re.compile(r"(?<![.\w])steps\.([a-z][a-z0-9_]*)")  # not `x.steps.y`
_ROOT_REFERENCE = re.compile(r"(?<![.\w])(params|instance|item|index)\b")


class ExpressionError(ValueError):
    """An expression failed to compile or to evaluate; the message says why in CEL's words."""


class ExpressionTooCostly(ExpressionError):
    """An evaluation used up its budget of steps or time (see engine.definition.budget)."""


@lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    return celpy.Environment()


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression. Evaluation is pure: same activation, same result.

    Equal when the source is equal, so compiling the same document twice gives equal plans.
    """

    source: str
    _program: Any = field(repr=False, compare=False)

    @property
    def referenced_steps(self) -> tuple[str, ...]:
        """The phase ids the expression reads through `steps.<id>`, in order of first use."""
        return tuple(dict.fromkeys(_STEP_REFERENCE.findall(self.source)))

    @property
    def referenced_roots(self) -> tuple[str, ...]:
        """The top-level names (`params`, `instance`, `item`, `index`) the expression reads."""
        return tuple(dict.fromkeys(_ROOT_REFERENCE.findall(self.source)))

    def evaluate(self, activation: Mapping[str, Any], *, budget: Budget | None = None) -> Any:
        """Evaluate against plain JSON-like values (datetimes allowed) and return plain Python values.

        The evaluation stops with ExpressionTooCostly once it passes `budget` (by default MAX_STEPS steps
        or MAX_SECONDS seconds, engine.definition.budget).
        """
        budget = (budget or Budget()).start()
        evaluator = BudgetedEvaluator(self._program.ast, self._program.new_activation(), budget)
        try:
            result = evaluator.evaluate({name: to_cel(value) for name, value in activation.items()})
        except BudgetExceeded as exc:
            raise ExpressionTooCostly(f"{exc}; simplify it or give it less data") from None
        except CELEvalError as exc:
            raise ExpressionError(_eval_message(exc)) from None
        except Exception as exc:  # cel-python raises assorted types for type errors and overflows
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
        if isinstance(result, CELEvalError):
            raise ExpressionError(_eval_message(result))
        return from_cel(result)


def compile_expression(source: str) -> Expression:
    """Compile CEL source, or raise ExpressionError saying what is wrong with it."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("an expression must be a non-empty string")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"an expression may be at most {MAX_EXPRESSION_LENGTH} characters long")
    env = _environment()
    try:
        ast = env.compile(source)
        program = env.program(ast)
    except CELParseError as exc:
        raise ExpressionError(_parse_message(exc)) from None
    except Exception as exc:  # the parser can also fail with lark or recursion errors on hostile input
        raise ExpressionError(f"cannot compile: {type(exc).__name__}") from None
    return Expression(source=source, _program=program)


def _parse_message(exc: CELParseError) -> str:
    """Where the syntax error is and what was found there; celpy keeps lark's details on __context__."""
    where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
    cause = exc.__context__
    if isinstance(cause, UnexpectedToken):
        if cause.token.type == "$END":
            return f"syntax error{where}: the expression ends too early"
        return f"syntax error{where}: unexpected {str(cause.token)!r}"
    if isinstance(cause, UnexpectedCharacters):
        return f"syntax error{where}: unexpected character {cause.char!r}"
    return f"syntax error{where}"


def _eval_message(exc: CELEvalError) -> str:
    args = exc.args
    return str(args[0]) if args else "evaluation failed"


def to_cel(value: Any) -> Any:
    """Convert JSON-like Python values (and aware datetimes) to CEL values."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return celtypes.TimestampType(aware.astimezone(UTC))
    if isinstance(value, timedelta):
        return celtypes.DurationType(seconds=int(value.total_seconds()))
    if isinstance(value, Mapping):
        return celtypes.MapType({celtypes.StringType(str(k)): to_cel(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return celtypes.ListType([to_cel(item) for item in value])
    return json_to_cel(value)


def from_cel(value: Any) -> Any:
    """Convert a CEL result back to plain Python: dict, list, str, int, float, bool, None, aware datetime."""
    if value is None:
        return None
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, celtypes.TimestampType):
        return datetime.fromisoformat(value.isoformat().replace("Z", "+00:00")).astimezone(UTC)
    if isinstance(value, celtypes.DurationType):
        return timedelta(seconds=value.total_seconds())
    if isinstance(value, celtypes.MapType | dict):
        return {str(from_cel(k)): from_cel(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType | list | tuple):
        return [from_cel(item) for item in value]
    return value
