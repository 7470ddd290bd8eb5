"""Step 1 of validation: the limits, checked before anything is parsed or serialised."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.definition.problems import Problem, truncate

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_PHASES = 500


Parts = tuple[str | int, ...]


# --- Step 1: limits -------------------------------------------------------------------------------------


def load(document: object) -> tuple[Any, list[Problem]]:
    """Check the limits and return a plain-JSON copy of the document, or the problems that stop here."""
    if isinstance(document, str | bytes | bytearray | memoryview):
        return _load_text(document)
    return _load_value(document)


def _too_large(path: str, message: str) -> Problem:
    return Problem(path, "too_large", message)


def _load_text(text: str | bytes | bytearray | memoryview) -> tuple[Any, list[Problem]]:
    # Each character is at least one byte, so a long str is refused before it is encoded to be measured.
    if isinstance(text, str):
        size = len(text) if len(text) > MAX_BYTES else len(text.encode("utf-8", "surrogatepass"))
    else:
        size = memoryview(text).nbytes
    if size > MAX_BYTES:
        return None, [_too_large("", f"the document is {size} bytes; the limit is {MAX_BYTES}")]
    try:
        value = json.loads(
            bytes(text) if isinstance(text, memoryview) else text, parse_constant=_refuse_constant
        )
    except RecursionError:  # the parser recurses once per level; this deep is far past the depth limit
        return None, [_too_large("", f"the document is nested deeper than {MAX_DEPTH} levels")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem("", "schema", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        ]
    except ValueError as exc:  # bad UTF-8, NaN/Infinity, integers too long to convert
        return None, [Problem("", "schema", truncate(f"not valid JSON: {exc}"))]
    return value, _structure_problems(value)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _load_value(value: object) -> tuple[Any, list[Problem]]:
    problems = _structure_problems(value)
    if problems:
        return None, problems
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_plain)
    except (TypeError, ValueError) as exc:
        return None, [Problem("", "schema", truncate(f"not a JSON value: {exc}"))]
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return None, [_too_large("", f"the document is {size} bytes as JSON; the limit is {MAX_BYTES}")]
    # A private copy of plain JSON values: tuples become lists, and the caller's later edits cannot reach us.
    return json.loads(text), []


def _plain(value: object) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not a JSON type")


def _structure_problems(value: object) -> list[Problem]:
    problems = []
    phases = value.get("phases") if isinstance(value, Mapping) else None
    if isinstance(phases, list | tuple) and len(phases) > MAX_PHASES:
        problems.append(_too_large("/phases", f"{len(phases)} phases; the limit is {MAX_PHASES}"))
    walked = _walk_limits(value)
    if walked:
        problems.append(walked)
    return problems


def _nul_problem() -> Problem:
    # Refused whole (path ""), like a document too large: PostgreSQL cannot store it even as a draft.
    return Problem("", "schema", "the document holds a NUL (U+0000) character, which cannot be stored")


def _walk_limits(value: object) -> Problem | None:
    """Walk without recursion and stop as soon as the value is too deep, certainly too big, or holds NUL.

    `estimate` is a lower bound of the compact JSON size, so a structure sharing one huge string a thousand
    times is refused here instead of being serialised, and hostile input costs at most ~MAX_BYTES steps.
    """
    estimate = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return _nul_problem()
            estimate += len(node) + 2
        elif isinstance(node, int):
            estimate += 1 + node.bit_length() * 3 // 10
        elif isinstance(node, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                return _too_large("", f"the document is nested deeper than {MAX_DEPTH} levels")
            estimate += 1
            if isinstance(node, Mapping):
                for key, child in node.items():
                    if isinstance(key, str) and "\x00" in key:
                        return _nul_problem()
                    estimate += (len(key) if isinstance(key, str) else 1) + 4
                    stack.append((child, depth + 1))
            else:
                estimate += len(node)
                stack.extend((child, depth + 1) for child in node)
        else:
            estimate += 1
        if estimate > MAX_BYTES:
            return _too_large("", f"the document is over {MAX_BYTES} bytes as JSON")
    return None


# --- Inputs that expressions read: start parameters ------------------------------------------------------

MAX_PARAMS_BYTES = 256 * 1024
MAX_PARAMS_DEPTH = 32
MAX_PARAMS_LIST_ITEMS = 10_000


def params_size_problems(params: object) -> list[dict[str, str]]:
    """Start parameters too big for expressions to read within their budget: at most MAX_PARAMS_BYTES as
    JSON, MAX_PARAMS_DEPTH levels and MAX_PARAMS_LIST_ITEMS items in any list (checked without recursion)."""
    estimate = 0
    stack: list[tuple[object, str, int]] = [(params, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            estimate += len(node) + 2
        elif isinstance(node, Mapping | list | tuple):
            if depth > MAX_PARAMS_DEPTH:
                return [{"path": path, "message": f"params are nested deeper than {MAX_PARAMS_DEPTH} levels"}]
            if isinstance(node, Mapping):
                estimate += 2
                for key, child in node.items():
                    estimate += len(str(key)) + 4
                    pointer = str(key).replace("~", "~0").replace("/", "~1")
                    stack.append((child, f"{path}/{pointer}", depth + 1))
            else:
                if len(node) > MAX_PARAMS_LIST_ITEMS:
                    message = f"{len(node)} items; a list in params holds at most {MAX_PARAMS_LIST_ITEMS}"
                    return [{"path": path, "message": message}]
                estimate += 2 + len(node)
                stack.extend((child, f"{path}/{index}", depth + 1) for index, child in enumerate(node))
        else:
            estimate += len(str(node))
        if estimate > MAX_PARAMS_BYTES:
            return [{"path": "", "message": f"params are over {MAX_PARAMS_BYTES} bytes as JSON"}]
    return []
