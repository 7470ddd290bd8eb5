"""The template contract: schema, validation, compilation to a plan. Pure Python; never imports Django.

The public names load lazily so that importing a leaf module (canonical, durations) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Plan", "Problem", "compile", "compile_template", "validate"]


def __getattr__(name: str) -> Any:
    if name in ("compile", "compile_template"):
        from engine.definition.compiler import compile_template

        return compile_template
    if name == "validate":
        from engine.definition.validate import validate

        return validate
    if name == "Plan":
        from engine.definition.plan import Plan

        return Plan
    if name == "Problem":
        from engine.definition.problems import Problem

        return Problem
    raise AttributeError(name)
