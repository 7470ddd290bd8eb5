"""CEL expressions: compile errors say where, evaluation takes and gives plain Python values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.definition.expressions import MAX_EXPRESSION_LENGTH, ExpressionError, compile_expression


def test_evaluates_params_and_steps():
    expression = compile_expression("steps.ingest.output.rows > params.minimum")

    assert (
        expression.evaluate({"steps": {"ingest": {"output": {"rows": 5}}}, "params": {"minimum": 3}}) is True
    )


def test_returns_plain_python_values():
    expression = compile_expression('{"names": [params.a, "b"], "n": 1 + 2, "ratio": 0.5}')

    assert expression.evaluate({"params": {"a": "x"}}) == {"names": ["x", "b"], "n": 3, "ratio": 0.5}


def test_timestamps_go_in_and_out_as_aware_utc_datetimes():
    started = datetime(2026, 3, 6, 10, tzinfo=UTC)
    expression = compile_expression('instance.started_at + duration("3600s")')

    assert expression.evaluate({"instance": {"started_at": started}}) == started + timedelta(hours=1)


def test_syntax_error_says_where():
    with pytest.raises(ExpressionError) as raised:
        compile_expression("params.a +")

    assert str(raised.value) == "syntax error at line 1, column 10: the expression ends too early"


def test_unexpected_token_is_named():
    with pytest.raises(ExpressionError) as raised:
        compile_expression("params.a ) 1")

    assert str(raised.value) == "syntax error at line 1, column 10: unexpected ')'"


@pytest.mark.parametrize("source", ["", "   ", None, 3])
def test_empty_or_non_text_source_is_refused(source):
    with pytest.raises(ExpressionError, match="non-empty string"):
        compile_expression(source)


def test_overlong_source_is_refused():
    with pytest.raises(ExpressionError, match="at most"):
        compile_expression("1" + " + 1" * MAX_EXPRESSION_LENGTH)


def test_deeply_nested_source_fails_as_an_expression_error_not_a_recursion_error():
    expression = compile_expression("(" * 2000 + "1" + ")" * 2000)  # the LALR parser does not recurse

    with pytest.raises(ExpressionError, match="RecursionError"):
        expression.evaluate({})


def test_missing_key_at_run_time_is_an_expression_error():
    expression = compile_expression("steps.ingest.output.rows > 0")

    with pytest.raises(ExpressionError):
        expression.evaluate({"steps": {}})


def test_referenced_steps_and_roots_in_order_of_first_use():
    expression = compile_expression(
        "steps.b.output.x + steps.a.output.y + steps.b.output.z + params.n + index"
    )

    assert expression.referenced_steps == ("b", "a")
    assert expression.referenced_roots == ("params", "index")


def test_expressions_with_the_same_source_are_equal():
    assert compile_expression("params.a == 1") == compile_expression("params.a == 1")
    assert compile_expression("params.a == 1") != compile_expression("params.a == 2")
