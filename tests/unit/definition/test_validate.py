"""validate(): every invalid template gives exactly the expected (code, path) pairs, in order."""

from __future__ import annotations

import json

import jsonpatch
import pytest

from engine.definition.problems import Problem
from engine.definition.validation import validate
from tests.unit.definition.documents import ACTIVITIES, base_document, minimal_document


def rep(path, value):
    return {"op": "replace", "path": path, "value": value}


def add(path, value):
    return {"op": "add", "path": path, "value": value}


def rm(path):
    return {"op": "remove", "path": path}


# (name, JSON Patch applied to base_document(), expected [(code, path)] in validate's order)
CASES = [
    # --- pass 1: the JSON Schema ---
    ("format_missing", [rm("/format")], [("schema", "")]),
    ("format_wrong_version", [rep("/format", "phasegate/v2")], [("schema", "/format")]),
    ("key_with_spaces", [rep("/key", "Unit Base")], [("schema", "/key")]),
    ("key_too_long", [rep("/key", "a" * 81)], [("schema", "/key")]),
    ("name_empty", [rep("/name", "")], [("schema", "/name")]),
    ("unknown_top_level_field", [add("/colour", "red")], [("schema", "/colour")]),
    ("params_not_an_object", [rep("/params", ["report_id"])], [("schema", "/params")]),
    ("role_without_name", [rep("/roles/analyst", {})], [("schema", "/roles/analyst")]),
    ("role_key_starting_with_digit", [add("/roles/9lives", {"name": "Cat"})], [("schema", "/roles")]),
    (
        "workdays_out_of_range",
        [rep("/calendar/workdays", [0, 8])],
        [("schema", "/calendar/workdays/0"), ("schema", "/calendar/workdays/1")],
    ),
    ("workdays_repeated", [rep("/calendar/workdays", [1, 1])], [("schema", "/calendar/workdays")]),
    ("workdays_empty", [rep("/calendar/workdays", [])], [("schema", "/calendar/workdays")]),
    ("holiday_not_a_date", [rep("/calendar/holidays/0", "2026-02-30")], [("schema", "/calendar/holidays/0")]),
    (
        "holiday_in_local_format",
        [rep("/calendar/holidays/0", "25/12/2026")],
        [("schema", "/calendar/holidays/0")],
    ),
    ("defaults_unknown_field", [add("/defaults/queue", "slow")], [("schema", "/defaults/queue")]),
    ("no_phases", [rep("/phases", [])], [("schema", "/phases")]),
    ("phases_not_a_list", [rep("/phases", {})], [("schema", "/phases")]),
    ("phase_not_an_object", [rep("/phases/7", "settle")], [("schema", "/phases/7")]),
    ("phase_without_id", [rm("/phases/7/id")], [("schema", "/phases/7")]),
    ("phase_id_with_capitals", [rep("/phases/7/id", "Settle")], [("schema", "/phases/7/id")]),
    ("phase_type_unknown", [rep("/phases/7/type", "robot")], [("schema", "/phases/7/type")]),
    ("phase_type_missing", [rm("/phases/7/type")], [("schema", "/phases/7")]),
    (
        "depends_on_repeated",
        [rep("/phases/7/depends_on", ["pause", "pause"])],
        [("schema", "/phases/7/depends_on")],
    ),
    ("human_without_roles", [rm("/phases/0/roles")], [("schema", "/phases/0")]),
    ("human_with_empty_roles", [rep("/phases/0/roles", [])], [("schema", "/phases/0/roles")]),
    ("human_with_task_field", [add("/phases/0/activity", "unit.ingest")], [("schema", "/phases/0/activity")]),
    (
        "on_outcome_without_reopen",
        [rep("/phases/1/on_outcome/rework", {})],
        [("schema", "/phases/1/on_outcome/rework")],
    ),
    ("sla_without_duration", [rm("/phases/1/sla/duration")], [("schema", "/phases/1/sla")]),
    ("sla_at_risk_zero", [rep("/phases/1/sla/at_risk", 0)], [("schema", "/phases/1/sla/at_risk")]),
    ("sla_at_risk_above_one", [rep("/phases/1/sla/at_risk", 1.5)], [("schema", "/phases/1/sla/at_risk")]),
    ("sla_on_a_task", [add("/phases/2/sla", {"duration": "P1D"})], [("schema", "/phases/2/sla")]),
    ("task_without_activity", [rm("/phases/2/activity")], [("schema", "/phases/2")]),
    ("task_input_not_text", [rep("/phases/2/input/report", 5)], [("schema", "/phases/2/input/report")]),
    (
        "retry_zero_attempts",
        [rep("/phases/2/retry/max_attempts", 0)],
        [("schema", "/phases/2/retry/max_attempts")],
    ),
    (
        "retry_attempts_not_integer",
        [rep("/phases/2/retry/max_attempts", 2.5)],
        [("schema", "/phases/2/retry/max_attempts")],
    ),
    (
        "retry_backoff_below_one",
        [add("/phases/2/retry/backoff", 0.5)],
        [("schema", "/phases/2/retry/backoff")],
    ),
    (
        "retry_on_unknown_category",
        [add("/phases/2/retry/retry_on", ["network"])],
        [("schema", "/phases/2/retry/retry_on/0")],
    ),
    ("retry_unknown_field", [add("/phases/2/retry/delay", "PT1S")], [("schema", "/phases/2/retry/delay")]),
    ("task_on_fail_unknown", [add("/phases/2/on_fail", "ignore")], [("schema", "/phases/2/on_fail")]),
    ("timeout_in_words", [rep("/phases/2/timeout", "30 minutes")], [("schema", "/phases/2/timeout")]),
    ("duration_without_time_part", [rep("/phases/2/timeout", "PT")], [("schema", "/phases/2/timeout")]),
    ("gate_on_fail_continue", [add("/phases/3/on_fail", "continue")], [("schema", "/phases/3/on_fail")]),
    ("gate_with_check_and_activity", [add("/phases/3/activity", "unit.check")], [("schema", "/phases/3")]),
    ("gate_with_neither", [rm("/phases/3/check")], [("schema", "/phases/3")]),
    ("gate_action_in_words", [rep("/phases/3/action", "retry ingestion")], [("schema", "/phases/3/action")]),
    ("choice_without_choices", [rm("/phases/4/choices")], [("schema", "/phases/4")]),
    ("choice_with_empty_choices", [rep("/phases/4/choices", [])], [("schema", "/phases/4/choices")]),
    ("branch_without_then", [rm("/phases/4/choices/0/then")], [("schema", "/phases/4/choices/0")]),
    (
        "branch_with_empty_then",
        [rep("/phases/4/choices/0/then", [])],
        [("schema", "/phases/4/choices/0/then")],
    ),
    ("map_without_items", [rm("/phases/5/items")], [("schema", "/phases/5")]),
    (
        "map_concurrency_zero",
        [rep("/phases/5/max_concurrency", 0)],
        [("schema", "/phases/5/max_concurrency")],
    ),
    (
        "map_tolerates_more_than_all",
        [rep("/phases/5/tolerated_failure", 1.5)],
        [("schema", "/phases/5/tolerated_failure")],
    ),
    ("wait_with_signal_and_duration", [add("/phases/6/duration", "PT1H")], [("schema", "/phases/6")]),
    ("wait_with_nothing", [rm("/phases/7/duration")], [("schema", "/phases/7")]),
    ("wait_timeout_without_signal", [add("/phases/7/timeout", "PT2H")], [("schema", "/phases/7")]),
    ("wait_signal_with_slash", [rep("/phases/6/signal", "re/sume")], [("schema", "/phases/6/signal")]),
    (
        "every_schema_error_at_once",
        [rep("/key", "Bad"), rep("/phases/2/timeout", "soon"), rm("/phases/3/check")],
        [("schema", "/key"), ("schema", "/phases/2/timeout"), ("schema", "/phases/3")],
    ),
    (
        "schema_and_semantic_problems_together",
        [rep("/key", "Bad"), rep("/phases/0/roles/0", "nobody")],
        [("schema", "/key"), ("unknown_role", "/phases/0/roles/0")],
    ),
    # --- pass 2: semantic rules ---
    (
        "duplicate_id",
        [add("/phases/-", {"id": "settle", "type": "wait", "duration": "PT1M"})],
        [("duplicate_id", "/phases/8/id")],
    ),
    (
        "unknown_dependency",
        [rep("/phases/2/depends_on/0", "reviw")],
        [("unknown_phase", "/phases/2/depends_on/0")],
    ),
    (
        "self_dependency",
        [add("/phases/2/depends_on/-", "ingest")],
        [("self_dependency", "/phases/2/depends_on/1")],
    ),
    ("cycle_of_two", [add("/phases/0/depends_on", ["review"])], [("cycle", "/phases/0/depends_on")]),
    ("cycle_of_three", [add("/phases/0/depends_on", ["ingest"])], [("cycle", "/phases/0/depends_on")]),
    (
        "two_separate_cycles",
        [add("/phases/0/depends_on", ["review"]), add("/phases/5/depends_on/-", "settle")],
        [("cycle", "/phases/0/depends_on"), ("cycle", "/phases/5/depends_on")],
    ),
    ("unknown_role_on_phase", [rep("/phases/0/roles/0", "analist")], [("unknown_role", "/phases/0/roles/0")]),
    (
        "unknown_role_to_escalate_to",
        [rep("/phases/1/sla/escalate_to/0", "boss")],
        [("unknown_role", "/phases/1/sla/escalate_to/0")],
    ),
    (
        "unknown_role_in_default_sla",
        [rep("/defaults/sla/escalate_to/0", "boss")],
        [("unknown_role", "/defaults/sla/escalate_to/0")],
    ),
    (
        "no_roles_declared",
        [rm("/roles")],
        [
            ("unknown_role", "/defaults/sla/escalate_to/0"),
            ("unknown_role", "/phases/0/roles/0"),
            ("unknown_role", "/phases/1/roles/0"),
            ("unknown_role", "/phases/1/sla/escalate_to/0"),
        ],
    ),
    (
        "unknown_task_activity",
        [rep("/phases/2/activity", "unit.ingset")],
        [("unknown_activity", "/phases/2/activity")],
    ),
    (
        "unknown_map_activity",
        [rep("/phases/5/activity", "other.process")],
        [("unknown_activity", "/phases/5/activity")],
    ),
    (
        "unknown_gate_activity",
        [rm("/phases/3/check"), add("/phases/3/activity", "unit.chek")],
        [("unknown_activity", "/phases/3/activity")],
    ),
    (
        "check_does_not_compile",
        [rep("/phases/3/check", "steps.ingest.output.rows >")],
        [("bad_expression", "/phases/3/check")],
    ),
    (
        "when_does_not_compile",
        [rep("/phases/4/choices/0/when", "== 3")],
        [("bad_expression", "/phases/4/choices/0/when")],
    ),
    (
        "items_does_not_compile",
        [rep("/phases/5/items", "steps.ingest.output.")],
        [("bad_expression", "/phases/5/items")],
    ),
    (
        "until_does_not_compile",
        [rm("/phases/7/duration"), add("/phases/7/until", "timestamp(")],
        [("bad_expression", "/phases/7/until")],
    ),
    (
        "input_does_not_compile",
        [rep("/phases/2/input/report", "params.report_id +")],
        [("bad_expression", "/phases/2/input/report")],
    ),
    ("expression_of_blanks", [rep("/phases/3/check", "   ")], [("bad_expression", "/phases/3/check")]),
    (
        "expression_reads_unknown_step",
        [rep("/phases/3/check", "steps.ingst.output.rows > 0")],
        [("unknown_phase", "/phases/3/check")],
    ),
    (
        "expression_reads_a_later_step",
        [rep("/phases/2/input/report", "steps.quality.output.passed")],
        [("step_not_upstream", "/phases/2/input/report")],
    ),
    (
        "expression_reads_its_own_step",
        [rep("/phases/3/check", "steps.quality.output.passed")],
        [("step_not_upstream", "/phases/3/check")],
    ),
    ("duration_in_months", [rep("/phases/2/timeout", "P1M")], [("bad_duration", "/phases/2/timeout")]),
    ("default_timeout_in_years", [rep("/defaults/timeout", "P1Y")], [("bad_duration", "/defaults/timeout")]),
    ("sla_in_weeks", [rep("/phases/1/sla/duration", "P2W")], [("bad_duration", "/phases/1/sla/duration")]),
    (
        "default_sla_in_months",
        [rep("/defaults/sla/duration", "P1M")],
        [("bad_duration", "/defaults/sla/duration")],
    ),
    (
        "wait_longer_than_ten_years",
        [rep("/phases/7/duration", "P4000D")],
        [("bad_duration", "/phases/7/duration")],
    ),
    (
        "retry_interval_in_months",
        [rep("/defaults/retry/initial_interval", "P1M")],
        [("bad_duration", "/defaults/retry/initial_interval")],
    ),
    ("zero_timeout", [rep("/phases/2/timeout", "PT0S")], [("bad_duration", "/phases/2/timeout")]),
    ("zero_signal_timeout", [rep("/phases/6/timeout", "P0D")], [("bad_duration", "/phases/6/timeout")]),
    (
        "form_with_unknown_type",
        [rep("/phases/0/form/properties/note/type", "text")],
        [("bad_form_schema", "/phases/0/form/properties/note/type")],
    ),
    (
        "form_with_broken_pattern",
        [add("/phases/0/form/properties/note/pattern", "([")],
        [("bad_form_schema", "/phases/0/form/properties/note/pattern")],
    ),
    (
        "params_required_not_a_list",
        [add("/params/required", "report_id")],
        [("bad_form_schema", "/params/required")],
    ),
    (
        "choice_target_without_dependency",
        [rm("/phases/6/depends_on")],
        [("choice_target_not_downstream", "/phases/4/otherwise/0")],
    ),
    (
        "choice_target_unknown",
        [rep("/phases/4/choices/0/then/0", "fan")],
        [("unknown_phase", "/phases/4/choices/0/then/0")],
    ),
    (
        "reopen_a_later_phase",
        [rep("/phases/1/on_outcome/rework/reopen", "ingest")],
        [("reopen_target_not_upstream", "/phases/1/on_outcome/rework/reopen")],
    ),
    (
        "reopen_itself",
        [rep("/phases/1/on_outcome/rework/reopen", "review")],
        [("reopen_target_not_upstream", "/phases/1/on_outcome/rework/reopen")],
    ),
    (
        "reopen_unknown_phase",
        [rep("/phases/1/on_outcome/rework/reopen", "intak")],
        [("unknown_phase", "/phases/1/on_outcome/rework/reopen")],
    ),
    (
        "on_outcome_not_an_outcome",
        [rep("/phases/1/on_outcome", {"redo": {"reopen": "intake"}})],
        [("bad_outcome", "/phases/1/on_outcome/redo")],
    ),
    (
        "on_outcome_with_default_outcomes",
        [rm("/phases/1/outcomes")],
        [("bad_outcome", "/phases/1/on_outcome/rework")],
    ),
    (
        "unknown_time_zone",
        [rep("/calendar/timezone", "Mars/Olympus_Mons")],
        [("bad_calendar", "/calendar/timezone")],
    ),
    (
        "time_zone_as_a_path",
        [rep("/calendar/timezone", "../../etc/passwd")],
        [("bad_calendar", "/calendar/timezone")],
    ),
    (
        "retry_max_below_initial",
        [rep("/phases/2/retry", {"initial_interval": "PT10M", "max_interval": "PT1M"})],
        [("bad_retry", "/phases/2/retry/max_interval")],
    ),
    (
        "retry_initial_above_default_max",
        [rep("/phases/2/retry", {"initial_interval": "PT10M"})],
        [("bad_retry", "/phases/2/retry/initial_interval")],
    ),
    (
        "default_retry_max_below_initial",
        [rep("/defaults/retry/max_interval", "PT1S")],
        [("bad_retry", "/defaults/retry/max_interval")],
    ),
    (
        "heartbeat_as_long_as_timeout",
        [rep("/phases/2/heartbeat", "PT30M")],
        [("bad_timeout", "/phases/2/heartbeat")],
    ),
    (
        "heartbeat_beyond_default_timeout",
        [add("/phases/5/heartbeat", "PT2H")],
        [("bad_timeout", "/phases/5/heartbeat")],
    ),
    (
        "semantic_problems_sorted_by_path",
        [
            rep("/phases/7/depends_on/0", "fan"),
            rep("/phases/0/roles/0", "nobody"),
            rep("/calendar/timezone", "Nowhere/Land"),
            rep("/phases/2/timeout", "P1M"),
        ],
        [
            ("bad_calendar", "/calendar/timezone"),
            ("unknown_role", "/phases/0/roles/0"),
            ("bad_duration", "/phases/2/timeout"),
            ("unknown_phase", "/phases/7/depends_on/0"),
        ],
    ),
]


def _pairs(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(problem.code, problem.path) for problem in problems]


def test_base_document_is_valid():
    assert validate(base_document(), activities=ACTIVITIES) == []


@pytest.mark.parametrize(("name", "patch", "expected"), CASES, ids=[case[0] for case in CASES])
def test_invalid_template_reports_exactly(name, patch, expected):
    document = jsonpatch.apply_patch(base_document(), patch)

    assert _pairs(validate(document, activities=ACTIVITIES)) == expected


def test_case_names_are_unique_and_plenty():
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))
    assert len(names) >= 45


def test_unknown_activity_is_not_checked_without_a_registry():
    document = base_document()
    document["phases"][2]["activity"] = "nobody.registered.this"

    assert validate(document) == []


def test_unknown_activity_suggests_a_close_name():
    document = base_document()
    document["phases"][2]["activity"] = "unit.ingset"

    (problem,) = validate(document, activities=ACTIVITIES)
    assert problem.message == "no activity 'unit.ingset' is registered; did you mean 'unit.ingest'?"


def test_cycle_message_names_the_members_in_dependency_order():
    document = base_document()
    document["phases"][0]["depends_on"] = ["ingest"]

    (problem,) = validate(document)
    assert (
        problem.message
        == "depends_on forms a cycle: intake -> ingest -> review -> intake (each depends on the next)"
    )


def test_cycle_is_reported_once_whichever_member_the_search_starts_from():
    document = minimal_document(
        {"id": "a", "type": "wait", "duration": "PT1M", "depends_on": ["c"]},
        {"id": "b", "type": "wait", "duration": "PT1M", "depends_on": ["a"]},
        {"id": "c", "type": "wait", "duration": "PT1M", "depends_on": ["b"]},
    )

    assert _pairs(validate(document)) == [("cycle", "/phases/0/depends_on")]


def test_unknown_field_names_what_is_allowed():
    document = base_document()
    document["phases"][7]["colour"] = "red"

    (problem,) = validate(document)
    assert problem.path == "/phases/7/colour"
    assert problem.message == (
        "unknown field 'colour'; allowed here: buffer, depends_on, description, duration, id, name, roles, "
        "signal, timeout, type, ui, until"
    )


def test_wrong_type_says_what_was_expected():
    document = base_document()
    document["phases"][2]["retry"]["max_attempts"] = "3"

    (problem,) = validate(document)
    assert problem.message == "max_attempts must be an integer, not a string"


def test_gate_with_check_and_activity_explains_the_rule():
    document = base_document()
    document["phases"][3]["activity"] = "unit.check"

    (problem,) = validate(document)
    assert problem.message == "a gate needs either `check` (a CEL expression) or `activity`, not both"


def test_months_are_refused_with_the_reason():
    document = base_document()
    document["phases"][2]["timeout"] = "P1M"

    (problem,) = validate(document)
    assert problem.message == "'P1M' uses years, months or weeks; write days instead (e.g. P30D)"


def test_bad_expression_message_is_the_compile_error():
    document = base_document()
    document["phases"][3]["check"] = "steps.ingest.output.rows >"

    (problem,) = validate(document)
    assert problem.message == "syntax error at line 1, column 26: the expression ends too early"


def test_ui_hints_are_allowed_on_the_template_and_on_phases():
    document = base_document()
    document["ui"] = {"zoom": 1.5}
    document["phases"][0]["ui"] = {"x": 120, "y": 40}

    assert validate(document) == []


def test_phase_indexes_sort_as_numbers():
    phases = [{"id": f"p{i}", "type": "wait", "duration": "PT1M"} for i in range(12)]
    phases[2]["depends_on"] = ["missing"]
    phases[10]["depends_on"] = ["missing"]

    assert _pairs(validate(minimal_document(*phases))) == [
        ("unknown_phase", "/phases/2/depends_on/0"),
        ("unknown_phase", "/phases/10/depends_on/0"),
    ]


def test_json_text_is_accepted_as_str_and_bytes():
    text = json.dumps(base_document())

    assert validate(text) == []
    assert validate(text.encode()) == []


def test_text_that_is_not_json_is_a_schema_problem():
    assert validate('{"format": ') == [
        Problem("", "schema", "not valid JSON: Expecting value at line 1, column 12"),
    ]


def test_nan_is_not_json():
    assert _pairs(validate('{"format": NaN}')) == [("schema", "")]
    assert _pairs(validate({"format": float("nan")})) == [("schema", "")]


def test_python_values_that_json_cannot_hold_are_a_schema_problem():
    assert _pairs(validate({"phases": {1, 2}})) == [("schema", "")]


def test_tuples_count_as_arrays():
    document = base_document()
    document["phases"] = tuple(document["phases"])

    assert validate(document) == []


@pytest.mark.parametrize("value", [None, 0, "", b"", [], {}, "null", "[]", 3.5, True, ["phasegate/v1"]])
def test_anything_that_is_not_a_template_gives_problems_not_errors(value):
    problems = validate(value)

    assert problems
    assert {problem.code for problem in problems} == {"schema"}


def test_a_graph_full_of_cycles_reports_at_most_a_hundred():
    ids = [f"p{i}" for i in range(30)]
    phases = [
        {
            "id": pid,
            "type": "wait",
            "duration": "PT1M",
            "depends_on": [other for other in ids if other != pid],
        }
        for pid in ids
    ]

    problems = validate(minimal_document(*phases))

    assert {problem.code for problem in problems} == {"cycle"}
    assert len(problems) == 100
