"""The template contract: schema, validation, compilation to a plan. Pure Python; never imports Django."""

from __future__ import annotations

from engine.definition.compiler import compile_template
from engine.definition.plan import Plan
from engine.definition.problems import Problem
from engine.definition.validation import validate

compile = compile_template  # noqa: A001 - the contract's name for it; `compile_template` reads better in code

__all__ = ["Plan", "Problem", "compile", "compile_template", "validate"]
