"""A budget for one CEL evaluation: a bound on interpreter steps and on CPU-bound wall time.

cel-python has no cost limit of its own (cel-go's `CostLimit` has no counterpart), so its tree-walking
`Evaluator` is extended to count every node it visits, macros' nested evaluations included, and to stop
the evaluation once either bound is passed. A stopped evaluation is an expression error like any other:
the phase fails with category `data`, and nothing waits on it inside a transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from celpy.evaluation import Evaluator

# A step is one node of the expression's tree visited once; cel-python visits roughly 50-100k a second.
MAX_STEPS = 50_000
MAX_SECONDS = 1.0
_CLOCK_EVERY = 256  # steps between two looks at the clock


class BudgetExceeded(BaseException):  # noqa: N818 - BaseException: cel-python turns Exceptions into values
    """The evaluation used up its budget (raised through cel-python, caught by Expression.evaluate)."""


@dataclass
class Budget:
    """What one evaluation may spend; `steps` counts what it has spent so far."""

    max_steps: int = MAX_STEPS
    max_seconds: float = MAX_SECONDS
    steps: int = 0
    deadline: float = field(default=0.0)

    def start(self) -> Budget:
        self.steps, self.deadline = 0, time.monotonic() + self.max_seconds
        return self

    def spend(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise BudgetExceeded(f"the expression took more than {self.max_steps} evaluation steps")
        if self.steps % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the expression ran longer than {self.max_seconds:g} s")


class BudgetedEvaluator(Evaluator):
    """cel-python's interpreter, charging the budget for every node it visits."""

    def __init__(self, ast: Any, activation: Any, budget: Budget) -> None:
        super().__init__(ast, activation)
        self.budget = budget

    def _visit_tree(self, tree: Any) -> Any:
        self.budget.spend()
        return super()._visit_tree(tree)

    def sub_evaluator(self, ast: Any) -> Evaluator:
        # Macros (map, filter, exists, all) evaluate their body in a nested evaluator: same budget.
        return BudgetedEvaluator(ast, activation=self.activation, budget=self.budget)
