"""The four example templates: valid, wired to real activities, and runnable end to end on the sample data.

`run_template` below is a deliberately tiny interpreter (no database, no retries, no tolerated-failure
bookkeeping): it evaluates each phase's CEL exactly as the contract says and calls the activities, which is
enough to prove that every expression reads keys the previous activity really returns.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from engine.activities import activity_names, get_activity
from engine.definition.compiler import compile_template
from engine.definition.expressions import compile_expression
from engine.definition.validation import validate
from engine.errors import ActivityError
from fixtures import activities  # noqa: F401 - registers the example activities
from tests.unit.examples.helpers import TEMPLATES, make_ctx

SCHEMA_PATH = TEMPLATES.parents[1] / "engine" / "definition" / "template.schema.json"
NAMES = ["dt_testing", "market_daily", "product_enrichment", "weekly_refresh"]


def load(name: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / f"{name}.json").read_text())


def expressions_of(phase: dict[str, Any]) -> list[str]:
    found = [phase[key] for key in ("check", "items", "until") if key in phase]
    found += list(phase.get("input", {}).values())
    found += [branch["when"] for branch in phase.get("choices", [])]
    return found


def run_template(document: dict[str, Any], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run the automated phases in dependency order; stop at the first failed gate."""
    steps: dict[str, dict[str, Any]] = {}
    skipped_by_choice: set[str] = set()
    pending = list(document["phases"])
    while pending:
        phase = next(p for p in pending if all(d in steps for d in p.get("depends_on", [])))
        pending.remove(phase)
        depends = [steps[d]["state"] for d in phase.get("depends_on", [])]
        if phase["id"] in skipped_by_choice or (depends and all(s == "skipped" for s in depends)):
            steps[phase["id"]] = {"state": "skipped", "output": {}, "outcome": "", "data": {}}
            continue
        activation = {
            "params": params,
            "steps": steps,
            "instance": {"id": "t", "business_key": "", "started_at": datetime(2025, 1, 6, tzinfo=UTC)},
        }
        output = run_phase(phase, activation, skipped_by_choice)
        failed = phase["type"] == "gate" and not output["passed"]
        steps[phase["id"]] = {
            "state": "failed" if failed else "completed",
            "output": output,
            "outcome": "",
            "data": {},
        }
        if failed:
            break
    return steps


def run_phase(phase: dict[str, Any], activation: dict[str, Any], skipped: set[str]) -> dict[str, Any]:
    def evaluate(source: str, **extra: Any) -> Any:
        return compile_expression(source).evaluate({**activation, **extra})

    def call(**extra: Any) -> dict[str, Any]:
        payload = {name: evaluate(source, **extra) for name, source in phase.get("input", {}).items()}
        return dict(get_activity(phase["activity"]).function(payload, make_ctx()))

    if phase["type"] == "task":
        return call()
    if phase["type"] == "gate":
        return {"passed": evaluate(phase["check"]), "reason": "", "action": phase.get("action", "")}
    if phase["type"] == "choice":
        chosen = next(
            (b["then"] for b in phase["choices"] if evaluate(b["when"]) is True), phase["otherwise"]
        )
        targets = {t for b in phase["choices"] for t in b["then"]} | set(phase["otherwise"])
        skipped.update(targets - set(chosen))
        return {"chosen": chosen}
    if phase["type"] == "map":
        results: list[Any] = []
        failed = []
        for index, item in enumerate(evaluate(phase["items"])):
            try:
                results.append(call(item=item, index=index))
            except ActivityError:
                results.append(None)
                failed.append(index)
        return {"results": results, "failed": failed}
    raise AssertionError(f"run_template does not run {phase['type']} phases")


# --- validity ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_template_satisfies_the_json_schema(name):
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    assert [error.message for error in validator.iter_errors(load(name))] == []


@pytest.mark.parametrize("name", NAMES)
def test_template_passes_the_engine_validator_with_the_registered_activities(name):
    assert validate(load(name), activities=activity_names()) == []


def test_the_validator_would_notice_an_unregistered_activity():
    document = load("market_daily")
    document["phases"][0]["activity"] = "market.missing"
    problems = validate(document, activities=activity_names())
    assert [problem.code for problem in problems] == ["unknown_activity"]


@pytest.mark.parametrize("name", NAMES)
def test_template_compiles_to_a_plan_in_dependency_order(name):
    document = load(name)
    plan = compile_template(document)
    assert set(plan.order) == {phase["id"] for phase in document["phases"]}
    for phase in document["phases"]:
        assert all(plan.order.index(d) < plan.order.index(phase["id"]) for d in phase.get("depends_on", []))


@pytest.mark.parametrize("name", NAMES)
def test_template_key_matches_its_file_and_everything_is_described(name):
    document = load(name)
    assert document["key"] == name
    assert document["description"]
    assert all(phase.get("description") for phase in document["phases"])


@pytest.mark.parametrize("name", NAMES)
def test_every_expression_compiles_and_every_activity_is_registered(name):
    for phase in load(name)["phases"]:
        for source in expressions_of(phase):
            compile_expression(source)
        if "activity" in phase:
            get_activity(phase["activity"])


@pytest.mark.parametrize(
    ("name", "params", "valid"),
    [
        ("market_daily", {}, True),
        ("market_daily", {"symbols": ["AAPL"], "as_of": "2024-06-28"}, True),
        ("market_daily", {"symbols": []}, False),
        ("weekly_refresh", {"week": "2025-W02", "mode": "full"}, True),
        ("weekly_refresh", {"week": "2025-2"}, False),
        ("weekly_refresh", {"week": "2025-W02", "mode": "partial"}, False),
        ("weekly_refresh", {}, False),
        ("dt_testing", {"report_id": 7, "cycle": "2026-Q1"}, True),
        ("dt_testing", {"report_id": "7"}, False),
        ("product_enrichment", {"category": "Electronics"}, True),
    ],
)
def test_params_schema(name, params, valid):
    errors = list(jsonschema.Draft202012Validator(load(name)["params"]).iter_errors(params))
    assert (not errors) is valid


# --- running the automated templates on the sample data ----------------------------------------------


def test_market_daily_runs_to_a_ranking():
    steps = run_template(load("market_daily"), {})
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


def test_market_daily_stops_at_the_ingestion_gate_when_a_symbol_has_no_data():
    steps = run_template(load("market_daily"), {"symbols": ["AAPL", "ZZZZ"]})
    assert steps["ingestion_gate"]["state"] == "failed"
    assert steps["ingestion_gate"]["output"]["action"] == "RETRY_INGESTION"
    assert "validate" not in steps


def test_market_daily_tolerates_one_failed_symbol_but_not_two():
    one = {"market.indicators": {"kind": "data", "when": {"symbol": "NVDA"}}}
    steps = run_template(load("market_daily"), {"fail": one})
    assert steps["indicators"]["output"]["failed"] == [2]
    assert steps["indicator_gate"]["state"] == "completed"
    assert sum(steps["signals"]["output"]["counts"].values()) == 4

    two = {"market.indicators": {"kind": "data", "when": {"as_of": "2024-12-31"}}}
    steps = run_template(
        load("market_daily"), {"symbols": ["AAPL", "MSFT"], "as_of": "2024-12-31", "fail": two}
    )
    assert steps["indicator_gate"]["state"] == "failed"
    assert steps["indicator_gate"]["output"]["action"] == "FIX_DATA_QUALITY"


def test_product_enrichment_runs_to_a_notification():
    steps = run_template(load("product_enrichment"), {})
    assert all(step["state"] == "completed" for step in steps.values())
    assert steps["notification"]["output"]["indexed"] == 28


def test_product_enrichment_filters_by_category():
    steps = run_template(load("product_enrichment"), {"category": "Books"})
    assert steps["indexing"]["output"]["documents"] == 2


@pytest.mark.parametrize(
    ("mode", "chosen", "skipped"),
    [("full", "full_refresh", "incremental_refresh"), (None, "incremental_refresh", "full_refresh")],
)
def test_weekly_refresh_takes_one_branch_and_aggregates_it(mode, chosen, skipped):
    params = {"week": "2025-W03", **({"mode": mode} if mode else {})}
    steps = run_template(load("weekly_refresh"), params)
    assert steps["refresh_mode"]["output"] == {"chosen": [chosen]}
    assert (steps[chosen]["state"], steps[skipped]["state"]) == ("completed", "skipped")
    assert steps["validate_nulls"]["state"] == "completed"
    assert steps["aggregate"]["output"]["records"] == steps[chosen]["output"]["record_count"]
    assert steps["aggregate"]["output"]["batch_id"] == steps[chosen]["output"]["batch_id"]


def test_weekly_refresh_twice_gives_the_same_aggregate():
    first = run_template(load("weekly_refresh"), {"week": "2025-W02", "mode": "full"})
    second = run_template(load("weekly_refresh"), {"week": "2025-W02", "mode": "full"})
    assert first["aggregate"]["output"] == second["aggregate"]["output"]


def test_weekly_refresh_rejects_a_file_with_too_many_broken_rows(data_copy):
    path = data_copy / "regulatory" / "2025-W02.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:10]:
        row["currency"] = "???"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    steps = run_template(load("weekly_refresh"), {"week": "2025-W02"})
    assert steps["validate_counts"]["state"] == "failed"
    assert steps["validate_counts"]["output"]["action"] == "REJECT_FILE"
    assert "refresh_mode" not in steps


def test_weekly_refresh_stops_at_the_null_gate_when_too_many_cells_are_blank(data_copy):
    path = data_copy / "regulatory" / "2025-W02.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[::8]:
        row["country"] = ""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    steps = run_template(load("weekly_refresh"), {"week": "2025-W02", "mode": "full"})
    assert steps["validate_nulls"]["state"] == "failed"
    assert "aggregate" not in steps


# --- the human template ------------------------------------------------------------------------------


def test_dt_testing_has_seven_human_phases_with_declared_roles_and_business_day_slas():
    document = load("dt_testing")
    phases = {phase["id"]: phase for phase in document["phases"]}
    assert len(phases) == 7 and {p["type"] for p in phases.values()} == {"human"}
    assert set(document["roles"]) == {"tester", "test_manager", "cdo"}
    assert all(set(p["roles"]) <= set(document["roles"]) for p in phases.values())
    assert all(p["sla"]["business_days"] for p in phases.values() if "sla" in p)
    assert document["defaults"]["sla"]["business_days"] is True


def test_dt_testing_runs_sample_selection_and_provider_identification_in_parallel():
    phases = {phase["id"]: phase for phase in load("dt_testing")["phases"]}
    assert phases["sample_selection"]["depends_on"] == phases["data_provider_id"]["depends_on"] == ["scoping"]
    assert phases["request_info"]["depends_on"] == ["sample_selection", "data_provider_id"]


def test_dt_testing_rework_reopens_planning_and_observations_escalate():
    phases = {phase["id"]: phase for phase in load("dt_testing")["phases"]}
    assert phases["scoping"]["outcomes"] == ["approved", "rework"]
    assert phases["scoping"]["on_outcome"] == {"rework": {"reopen": "planning"}}
    assert phases["observations"]["sla"]["escalate_to"]


@pytest.mark.parametrize(
    ("phase_id", "data", "valid"),
    [
        ("planning", {"plan_url": "https://wiki.example.com/plan"}, True),
        ("planning", {}, False),
        (
            "sample_selection",
            {"sample_size": 25, "method": "random", "due_date": "2026-03-02", "populations": ["retail"]},
            True,
        ),
        ("sample_selection", {"sample_size": 2.5, "method": "random"}, False),
        ("sample_selection", {"sample_size": 25, "method": "guesswork"}, False),
        ("testing", {"all_passed": False, "error_rate": 0.04}, True),
        ("testing", {"all_passed": "no", "error_rate": 0.04}, False),
        ("testing", {"all_passed": True, "error_rate": 1.5}, False),
        ("observations", {"observations": "Two breaks in the LEI mapping."}, True),
        ("observations", {"observations": ""}, False),
    ],
)
def test_dt_testing_forms(phase_id, data, valid):
    form = next(p for p in load("dt_testing")["phases"] if p["id"] == phase_id)["form"]
    errors = list(jsonschema.Draft202012Validator(form).iter_errors(data))
    assert (not errors) is valid
