"""The automated example templates run end to end on the sample data, through the real engine: published,
started, their attempts run by the in-process worker (`FakeBroker.drain`), with retries, maps, choices and
gates as the engine does them. What each phase left is read back from the database."""

# ruff: noqa: F811  (the data_copy fixture imported from the examples conftest is a parameter here)

from __future__ import annotations

import csv
import json
from typing import Any

import pytest

from engine.models import PhaseRun, PhaseState
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from fixtures import activities  # noqa: F401 - registers the example activities
from tests.unit.examples.conftest import data_copy  # noqa: F401 - fixture
from tests.unit.examples.helpers import TEMPLATES

pytestmark = pytest.mark.django_db(transaction=True)


def run_template(name: str, params: dict[str, Any], broker: Any) -> dict[str, dict[str, Any]]:
    """Publish the example, start it, let the worker run everything (delays included); each phase that
    started, by id, with its state and output (a failed phase's error, which holds a gate's action)."""
    template_load(document=json.loads((TEMPLATES / f"{name}.json").read_text()), publish=True)
    instance = start_instance(name, params, actor=Actor("test"))
    for _ in range(50):
        if not broker.drain(include_delayed=True):
            break
    steps = {}
    for run in PhaseRun.objects.filter(instance=instance).exclude(state=PhaseState.PENDING):
        output = run.error if run.state == PhaseState.FAILED else run.output
        steps[run.phase_id] = {"state": run.state, "output": output or {}}
    return steps


def test_market_daily_runs_to_a_ranking(broker):
    steps = run_template("market_daily", {}, broker)
    assert all(step["state"] == "completed" for step in steps.values())
    assert len(steps) == 7
    assert steps["indicators"]["output"]["failed"] == []
    assert sorted(e["symbol"] for e in steps["scoring"]["output"]["ranking"]) == [
        "AAPL",
        "MSFT",
        "NVDA",
        "SPY",
        "TLT",
    ]


def test_market_daily_stops_at_the_ingestion_gate_when_a_symbol_has_no_data(broker):
    steps = run_template("market_daily", {"symbols": ["AAPL", "ZZZZ"]}, broker)
    assert steps["ingestion_gate"]["state"] == "failed"
    assert steps["ingestion_gate"]["output"]["action"] == "RETRY_INGESTION"
    assert "validate" not in steps


def test_market_daily_tolerates_one_failed_symbol_but_not_two(broker):
    one = {"market.indicators": {"kind": "data", "when": {"symbol": "NVDA"}}}
    steps = run_template("market_daily", {"fail": one}, broker)
    assert steps["indicators"]["output"]["failed"] == [2]
    assert steps["indicator_gate"]["state"] == "completed"
    assert sum(steps["signals"]["output"]["counts"].values()) == 4

    two = {"market.indicators": {"kind": "data", "when": {"as_of": "2024-12-31"}}}
    steps = run_template(
        "market_daily", {"symbols": ["AAPL", "MSFT"], "as_of": "2024-12-31", "fail": two}, broker
    )
    # Both symbols failing is past the map's tolerated_failure: the engine fails the map itself, so the
    # gate after it never runs (a stand-alone interpreter once let it run and report FIX_DATA_QUALITY).
    assert steps["indicators"]["state"] == "failed"
    assert "indicator_gate" not in steps


def test_product_enrichment_runs_to_a_notification(broker):
    steps = run_template("product_enrichment", {}, broker)
    assert all(step["state"] == "completed" for step in steps.values())
    assert steps["notification"]["output"]["indexed"] == 28


def test_product_enrichment_filters_by_category(broker):
    steps = run_template("product_enrichment", {"category": "Books"}, broker)
    assert steps["indexing"]["output"]["documents"] == 2


@pytest.mark.parametrize(
    ("mode", "chosen", "skipped"),
    [("full", "full_refresh", "incremental_refresh"), (None, "incremental_refresh", "full_refresh")],
)
def test_weekly_refresh_takes_one_branch_and_aggregates_it(broker, mode, chosen, skipped):
    params = {"week": "2025-W03", **({"mode": mode} if mode else {})}
    steps = run_template("weekly_refresh", params, broker)
    assert steps["refresh_mode"]["output"] == {"chosen": [chosen]}
    assert (steps[chosen]["state"], steps[skipped]["state"]) == ("completed", "skipped")
    assert steps["validate_nulls"]["state"] == "completed"
    assert steps["aggregate"]["output"]["records"] == steps[chosen]["output"]["record_count"]
    assert steps["aggregate"]["output"]["batch_id"] == steps[chosen]["output"]["batch_id"]


def test_weekly_refresh_twice_gives_the_same_aggregate(broker):
    first = run_template("weekly_refresh", {"week": "2025-W02", "mode": "full"}, broker)
    second = run_template("weekly_refresh", {"week": "2025-W02", "mode": "full"}, broker)
    assert first["aggregate"]["output"] == second["aggregate"]["output"]


def test_weekly_refresh_rejects_a_file_with_too_many_broken_rows(broker, data_copy):
    path = data_copy / "regulatory" / "2025-W02.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:10]:
        row["currency"] = "???"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    steps = run_template("weekly_refresh", {"week": "2025-W02"}, broker)
    assert steps["validate_counts"]["state"] == "failed"
    assert steps["validate_counts"]["output"]["action"] == "REJECT_FILE"
    assert "refresh_mode" not in steps


def test_weekly_refresh_stops_at_the_null_gate_when_too_many_cells_are_blank(broker, data_copy):
    path = data_copy / "regulatory" / "2025-W02.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[::8]:
        row["country"] = ""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    steps = run_template("weekly_refresh", {"week": "2025-W02", "mode": "full"}, broker)
    assert steps["validate_nulls"]["state"] == "failed"
    assert "aggregate" not in steps
