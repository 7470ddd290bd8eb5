"""Fault injection: which attempts fail, with which error, and what a bad fault spec does."""

from __future__ import annotations

import pytest

from engine.errors import DataError, RateLimitError, TransientError, error_category
from fixtures.activities import faults, market
from fixtures.activities.faults import inject_fault
from tests.unit.examples.helpers import make_ctx


def fail(spec: dict, **input_) -> dict:
    return {"fail": {"demo.activity": spec}, **input_}


def test_no_fault_configured_does_nothing():
    inject_fault("demo.activity", {}, make_ctx())
    inject_fault("demo.activity", {"fail": {}}, make_ctx())
    inject_fault("demo.activity", {"fail": None}, make_ctx())


def test_transient_fault_fires_on_the_first_times_attempts_only():
    spec = fail({"kind": "transient", "times": 2})
    for attempt in (1, 2):
        with pytest.raises(TransientError, match=f"attempt {attempt} of 2"):
            inject_fault("demo.activity", spec, make_ctx(attempt=attempt))
    inject_fault("demo.activity", spec, make_ctx(attempt=3))


def test_times_defaults_to_one():
    spec = fail({"kind": "transient"})
    with pytest.raises(TransientError):
        inject_fault("demo.activity", spec, make_ctx(attempt=1))
    inject_fault("demo.activity", spec, make_ctx(attempt=2))


def test_rate_limit_fault_carries_retry_after():
    with pytest.raises(RateLimitError) as given:
        inject_fault("demo.activity", fail({"kind": "rate_limit", "retry_after": 5}), make_ctx())
    assert given.value.retry_after == 5
    with pytest.raises(RateLimitError) as default:
        inject_fault("demo.activity", fail({"kind": "rate_limit"}), make_ctx())
    assert default.value.retry_after == 1


def test_data_fault_fires_on_every_attempt_whatever_times_says():
    spec = fail({"kind": "data", "times": 1})
    for attempt in (1, 2, 9):
        with pytest.raises(DataError):
            inject_fault("demo.activity", spec, make_ctx(attempt=attempt))


def test_system_fault_is_a_plain_exception_the_engine_counts_as_system():
    with pytest.raises(RuntimeError) as raised:
        inject_fault("demo.activity", fail({"kind": "system"}), make_ctx())
    assert error_category(raised.value) == "system"


def test_hang_sleeps_then_lets_the_attempt_carry_on(monkeypatch):
    slept = []
    monkeypatch.setattr(faults.time, "sleep", slept.append)
    inject_fault("demo.activity", fail({"kind": "hang", "seconds": 2.5}), make_ctx(attempt=1))
    inject_fault("demo.activity", fail({"kind": "hang"}), make_ctx(attempt=1))
    inject_fault("demo.activity", fail({"kind": "hang"}), make_ctx(attempt=2))  # the retry does not hang
    assert slept == [2.5, 30.0]


def test_when_limits_the_fault_to_matching_input():
    spec = {"kind": "data", "when": {"symbol": "NVDA"}}
    inject_fault("demo.activity", fail(spec, symbol="AAPL"), make_ctx())
    with pytest.raises(DataError):
        inject_fault("demo.activity", fail(spec, symbol="NVDA"), make_ctx())


def test_a_fault_for_another_activity_is_ignored():
    inject_fault("other.activity", fail({"kind": "data"}), make_ctx())


@pytest.mark.parametrize(
    "faults_value",
    [
        "transient",
        {"demo.activity": "transient"},
        {"demo.activity": {"kind": "explode"}},
        {"demo.activity": {"kind": "transient", "times": -1}},
        {"demo.activity": {"kind": "transient", "times": True}},
        {"demo.activity": {"kind": "rate_limit", "retry_after": "soon"}},
        {"demo.activity": {"kind": "data", "when": ["symbol"]}},
    ],
)
def test_a_malformed_fault_spec_is_a_data_error(faults_value):
    with pytest.raises(DataError):
        inject_fault("demo.activity", {"fail": faults_value}, make_ctx())


def test_an_activity_fails_then_succeeds_on_its_retry():
    input_ = {"fail": {"market.ingest": {"kind": "transient", "times": 1}}}
    with pytest.raises(TransientError):
        market.ingest(input_, make_ctx(attempt=1))
    assert market.ingest(input_, make_ctx(attempt=2))["rows"] > 0
