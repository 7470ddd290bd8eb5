"""Every CEL evaluation has a budget of steps and time; params have size limits."""

from __future__ import annotations

import pytest

from engine.definition.budget import MAX_STEPS, Budget
from engine.definition.expressions import ExpressionError, ExpressionTooCostly, compile_expression
from engine.definition.limits import MAX_PARAMS_LIST_ITEMS, params_size_problems


def test_a_cheap_expression_spends_a_few_steps():
    budget = Budget()
    assert compile_expression("params.a + 1 > 2").evaluate({"params": {"a": 5}}, budget=budget) is True
    assert 0 < budget.steps < 100


def test_a_quadratic_expression_over_400_items_is_stopped_by_the_step_budget():
    nested = compile_expression("params.xs.map(x, params.xs.filter(y, y < x).size()).size() > 0")
    budget = Budget(max_seconds=600)  # only the step bound, whatever the machine's load
    with pytest.raises(ExpressionTooCostly, match=f"more than {MAX_STEPS} evaluation steps"):
        nested.evaluate({"params": {"xs": list(range(400))}}, budget=budget)
    assert budget.steps == MAX_STEPS + 1  # stopped at once, not at the end


def test_exists_over_20k_items_is_stopped_and_is_an_expression_error():
    expression = compile_expression("params.xs.exists(x, x == -1)")
    with pytest.raises(ExpressionError):
        expression.evaluate({"params": {"xs": list(range(20_000))}})


def test_the_same_expression_within_its_budget_gives_its_value():
    expression = compile_expression("params.xs.exists(x, x == -1)")
    assert expression.evaluate({"params": {"xs": list(range(100))}}) is False
    unbounded = Budget(max_steps=10**9, max_seconds=600)
    assert expression.evaluate({"params": {"xs": list(range(100))}}, budget=unbounded) is False


def test_macros_nested_in_macros_share_one_budget():
    expression = compile_expression("params.xs.all(x, params.xs.exists(y, y == x))")
    budget = Budget(max_steps=10**9, max_seconds=600)  # only the steps matter here, whatever the load
    expression.evaluate({"params": {"xs": list(range(30))}}, budget=budget)
    assert budget.steps > 30 * 30  # the inner exists ran 30 times, each counted


def test_the_time_bound_stops_an_evaluation_that_has_steps_left():
    expression = compile_expression("params.xs.map(x, x * 2)")
    with pytest.raises(ExpressionTooCostly, match="ran longer than 0 s"):
        expression.evaluate(
            {"params": {"xs": list(range(1000))}}, budget=Budget(max_steps=10**9, max_seconds=0)
        )


def test_the_budget_starts_afresh_for_every_evaluation():
    expression = compile_expression("params.xs.map(x, x * 2).size()")
    budget = Budget(max_steps=2000)
    for _ in range(5):
        assert expression.evaluate({"params": {"xs": list(range(50))}}, budget=budget) == 50


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"xs": list(range(MAX_PARAMS_LIST_ITEMS + 1))}, "/xs"),
        ({"a": {"b/c": [list(range(MAX_PARAMS_LIST_ITEMS + 1))]}}, "/a/b~1c/0"),
        ({"blob": "x" * 300_000}, ""),
    ],
)
def test_params_over_the_size_limits_are_refused_with_a_pointer(params, path):
    problems = params_size_problems(params)
    assert [problem["path"] for problem in problems] == [path]


def test_params_nested_too_deep_are_refused():
    params: dict = {}
    node = params
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    assert "deeper than" in params_size_problems(params)[0]["message"]


def test_ordinary_params_pass():
    assert params_size_problems({"symbols": ["AAPL"] * 500, "day": "2026-11-20", "n": 3}) == []
