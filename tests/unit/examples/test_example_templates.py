"""The four example templates: valid and wired to real activities. They run end to end, through the real
engine, in tests/integration/test_example_runs.py."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from engine.activities import activity_names, get_activity
from engine.definition.compiler import compile_template
from engine.definition.expressions import compile_expression
from engine.definition.validation import validate
from fixtures import activities  # noqa: F401 - registers the example activities
from tests.unit.examples.helpers import TEMPLATES

SCHEMA_PATH = TEMPLATES.parents[1] / "engine" / "definition" / "template.schema.json"
NAMES = ["dt_testing", "market_daily", "product_enrichment", "weekly_refresh"]


def load(name: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / f"{name}.json").read_text())


def expressions_of(phase: dict[str, Any]) -> list[str]:
    found = [phase[key] for key in ("check", "items", "until") if key in phase]
    found += list(phase.get("input", {}).values())
    found += [branch["when"] for branch in phase.get("choices", [])]
    return found


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
