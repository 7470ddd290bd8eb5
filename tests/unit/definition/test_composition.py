"""Validation and compilation of the composition extensions: sub-workflows, error routes, compensation,
buffered signals. Each invalid document gives exactly the expected (code, path) pairs, in order."""

from __future__ import annotations

from datetime import timedelta

import jsonpatch
import pytest

from engine.definition import compile_template, validate
from engine.definition.composition import calls
from engine.definition.problems import DocumentInvalid

ACTIVITIES = frozenset({"unit.charge", "unit.refund", "unit.ship", "unit.fix"})
# published template key -> {version: the keys that version calls}
TEMPLATES = {"unit.child": {1: (), 2: ()}, "unit.other": {1: ("unit.child",)}}


def saga_document():
    """Every extension once: a sub-workflow, a map of sub-workflows, routes, compensations, a buffer."""
    return {
        "format": "phasegate/v1",
        "key": "unit.saga",
        "name": "Saga",
        "compensation": {"on_failure": True},
        "phases": [
            {
                "id": "charge",
                "type": "task",
                "activity": "unit.charge",
                "compensate": {"activity": "unit.refund", "input": {"charge": "steps.charge.output.id"}},
                "catch": [{"errors": ["data"], "goto": "fix"}, {"errors": ["any"], "goto": "alert"}],
            },
            {"id": "fix", "type": "task", "depends_on": ["charge"], "activity": "unit.fix"},
            {"id": "alert", "type": "task", "depends_on": ["charge"], "activity": "unit.fix"},
            {
                "id": "child",
                "type": "subworkflow",
                "depends_on": ["charge", "fix"],
                "template": "unit.child",
                "version": 2,
                "input": {"amount": "steps.charge.output.amount"},
                "business_key": "instance.business_key + '/child'",
                "retry": {"max_attempts": 2},
                "on_fail": {"goto": "recover"},
            },
            {"id": "recover", "type": "task", "depends_on": ["child"], "activity": "unit.fix"},
            {
                "id": "per_item",
                "type": "map",
                "depends_on": ["child", "recover"],
                "items": "[1, 2]",
                "template": "unit.child",
                "input": {"n": "item"},
                "business_key": "instance.business_key + '/' + string(index)",
            },
            {
                "id": "confirm",
                "type": "wait",
                "depends_on": ["per_item"],
                "signal": "confirmed",
                "buffer": "P1D",
            },
        ],
    }


def rep(path, value):
    return {"op": "replace", "path": path, "value": value}


def add(path, value):
    return {"op": "add", "path": path, "value": value}


def rm(path):
    return {"op": "remove", "path": path}


CASES = [
    # --- schema ---
    ("subworkflow_without_template", [rm("/phases/3/template")], [("schema", "/phases/3")]),
    ("subworkflow_version_zero", [rep("/phases/3/version", 0)], [("schema", "/phases/3/version")]),
    (
        "subworkflow_with_activity",
        [add("/phases/3/activity", "unit.ship")],
        [("schema", "/phases/3/activity")],
    ),
    ("on_fail_goto_without_target", [rep("/phases/3/on_fail", {})], [("schema", "/phases/3/on_fail")]),
    ("on_fail_goto_with_extra", [add("/phases/3/on_fail/then", "x")], [("schema", "/phases/3/on_fail")]),
    ("catch_empty", [rep("/phases/0/catch", [])], [("schema", "/phases/0/catch")]),
    (
        "catch_unknown_category",
        [rep("/phases/0/catch/0/errors", ["oops"])],
        [("schema", "/phases/0/catch/0/errors/0")],
    ),
    (
        "catch_on_a_human",
        [
            rep(
                "/phases/1",
                {
                    "id": "fix",
                    "type": "human",
                    "roles": ["r"],
                    "depends_on": ["charge"],
                    "catch": [{"errors": ["any"], "goto": "alert"}],
                },
            ),
            add("/roles", {"r": {"name": "R"}}),
        ],
        [("schema", "/phases/1/catch")],
    ),
    (
        "compensate_without_activity",
        [rm("/phases/0/compensate/activity")],
        [("schema", "/phases/0/compensate")],
    ),
    (
        "compensate_on_a_wait",
        [add("/phases/6/compensate", {"activity": "unit.refund"})],
        [("schema", "/phases/6/compensate")],
    ),
    ("map_with_activity_and_template", [add("/phases/5/activity", "unit.ship")], [("schema", "/phases/5")]),
    (
        "map_version_without_template",
        [rm("/phases/5/template"), add("/phases/5/activity", "unit.ship"), add("/phases/5/version", 1)],
        [("schema", "/phases/5")],
    ),
    (
        "buffer_without_signal",
        [rm("/phases/6/signal"), add("/phases/6/duration", "PT1H")],
        [("schema", "/phases/6")],
    ),
    ("compensation_unknown_field", [add("/compensation/when", "always")], [("schema", "/compensation/when")]),
    # --- semantics ---
    (
        "goto_unknown_phase",
        [rep("/phases/3/on_fail/goto", "nowhere")],
        [("unknown_phase", "/phases/3/on_fail/goto")],
    ),
    (
        "catch_goto_unknown_phase",
        [rep("/phases/0/catch/1/goto", "nowhere")],
        [("unknown_phase", "/phases/0/catch/1/goto")],
    ),
    (
        "handler_not_downstream",
        [rep("/phases/4/depends_on", ["charge"])],
        [("route_target_not_downstream", "/phases/3/on_fail/goto")],
    ),
    (
        "goto_itself",
        [rep("/phases/3/on_fail/goto", "child")],
        [("route_target_not_downstream", "/phases/3/on_fail/goto")],
    ),
    (
        "catch_after_any",
        [add("/phases/0/catch/-", {"errors": ["system"], "goto": "alert"})],
        [("unreachable_catch", "/phases/0/catch/2")],
    ),
    (
        "catch_repeats_a_category",
        [rep("/phases/0/catch/1/errors", ["data"])],
        [("unreachable_catch", "/phases/0/catch/1")],
    ),
    (
        "catch_gate_errors_on_a_task",
        [rep("/phases/0/catch/0/errors", ["gate"])],
        [("unreachable_catch", "/phases/0/catch/0")],
    ),
    ("calls_itself", [rep("/phases/3/template", "unit.saga")], [("subworkflow_cycle", "/phases/3/template")]),
    (
        "map_calls_itself",
        [rep("/phases/5/template", "unit.saga")],
        [("subworkflow_cycle", "/phases/5/template")],
    ),
    (
        "unknown_template",
        [rep("/phases/3/template", "unit.childe")],
        [("unknown_template", "/phases/3/template")],
    ),
    ("unknown_version", [rep("/phases/3/version", 9)], [("unknown_template_version", "/phases/3/version")]),
    (
        "compensate_bad_expression",
        [rep("/phases/0/compensate/input/charge", "steps.charge.output.")],
        [("bad_expression", "/phases/0/compensate/input/charge")],
    ),
    (
        "compensate_reads_downstream",
        [rep("/phases/0/compensate/input/charge", "steps.child.output")],
        [("step_not_upstream", "/phases/0/compensate/input/charge")],
    ),
    (
        "compensate_unknown_activity",
        [rep("/phases/0/compensate/activity", "unit.refnd")],
        [("unknown_activity", "/phases/0/compensate/activity")],
    ),
    (
        "compensate_zero_timeout",
        [add("/phases/0/compensate/timeout", "PT0S")],
        [("bad_duration", "/phases/0/compensate/timeout")],
    ),
    (
        "compensate_retry_intervals",
        [add("/phases/0/compensate/retry", {"initial_interval": "PT1M", "max_interval": "PT1S"})],
        [("bad_retry", "/phases/0/compensate/retry/max_interval")],
    ),
    (
        "business_key_bad_expression",
        [rep("/phases/3/business_key", "instance.")],
        [("bad_expression", "/phases/3/business_key")],
    ),
    (
        "business_key_reads_downstream",
        [rep("/phases/3/business_key", "steps.recover.output.key")],
        [("step_not_upstream", "/phases/3/business_key")],
    ),
    ("buffer_in_months", [rep("/phases/6/buffer", "P1M")], [("bad_duration", "/phases/6/buffer")]),
]


def _pairs(problems):
    return [(problem.code, problem.path) for problem in problems]


def _patched(patch):
    return jsonpatch.apply_patch(saga_document(), patch)


def test_saga_document_is_valid_with_and_without_registries():
    assert validate(saga_document()) == []
    assert validate(saga_document(), activities=ACTIVITIES, templates=TEMPLATES) == []


@pytest.mark.parametrize(("name", "patch", "expected"), CASES, ids=[case[0] for case in CASES])
def test_invalid_composition_reports_exactly(name, patch, expected):
    problems = validate(_patched(patch), activities=ACTIVITIES, templates=TEMPLATES)
    assert _pairs(problems) == expected


def test_published_templates_are_checked_only_when_given():
    document = _patched([rep("/phases/3/template", "unit.nothing"), rep("/phases/3/version", 9)])
    assert validate(document) == []


def test_a_cycle_through_other_templates_names_the_chain():
    templates = {**TEMPLATES, "unit.child": {1: (), 2: ("unit.other",)}, "unit.other": {1: ("unit.saga",)}}
    problems = validate(saga_document(), templates=templates)
    # the subworkflow and the map both call unit.child: each call is reported where it is made
    assert _pairs(problems) == [
        ("subworkflow_cycle", "/phases/3/template"),
        ("subworkflow_cycle", "/phases/5/template"),
    ]
    assert problems[0].message.endswith("unit.saga -> unit.child -> unit.other -> unit.saga")


def test_unknown_template_suggests_a_close_key():
    [problem] = validate(_patched([rep("/phases/3/template", "unit.childe")]), templates=TEMPLATES)
    assert problem.message == "no published template 'unit.childe'; did you mean 'unit.child'?"


def test_calls_lists_called_templates_once_in_document_order():
    assert calls(saga_document()) == ("unit.child",)
    assert calls({"phases": "not a list"}) == ()


def test_subworkflow_compiles_with_its_child_and_retry():
    plan = compile_template(saga_document())
    child = plan.phases["child"]
    assert (child.type, child.template, child.template_version) == ("subworkflow", "unit.child", 2)
    assert child.business_key.source == "instance.business_key + '/child'"
    assert child.input["amount"].source == "steps.charge.output.amount"
    assert child.retry.max_attempts == 2
    assert child.calls_template and not child.is_automated


def test_map_of_subworkflows_is_not_run_by_a_worker():
    plan = compile_template(saga_document())
    per_item = plan.phases["per_item"]
    assert (per_item.template, per_item.activity, per_item.template_version) == ("unit.child", None, None)
    assert not per_item.is_automated


def test_routes_compile_to_catch_then_on_fail():
    plan = compile_template(saga_document())
    charge, child = plan.phases["charge"], plan.phases["child"]
    assert [(c.errors, c.goto) for c in charge.catch] == [(("data",), "fix"), (("any",), "alert")]
    assert (charge.route_for("data"), charge.route_for("transient")) == ("fix", "alert")
    assert charge.route_targets == ("fix", "alert")
    assert (child.on_fail, child.fail_goto, child.route_for("child")) == ("goto", "recover", "recover")
    assert plan.phases["fix"].route_for("data") is None


def test_compensation_compiles_with_defaults_retry():
    document = saga_document()
    document["defaults"] = {"retry": {"max_attempts": 5}, "timeout": "PT2M"}
    compensation = compile_template(document).phases["charge"].compensate
    assert compensation.activity == "unit.refund"
    assert compensation.input["charge"].source == "steps.charge.output.id"
    assert (compensation.retry.max_attempts, compensation.timeout) == (5, timedelta(minutes=2))


def test_compensation_on_failure_defaults_to_true():
    document = saga_document()
    assert compile_template(document).compensate_on_failure is True
    document["compensation"] = {"on_failure": False}
    assert compile_template(document).compensate_on_failure is False


def test_signal_buffer_compiles():
    plan = compile_template(saga_document())
    assert plan.phases["confirm"].signal_buffer == timedelta(days=1)
    assert plan.phases["per_item"].signal_buffer is None


def test_invalid_composition_raises_with_codes():
    with pytest.raises(DocumentInvalid) as caught:
        compile_template(_patched([rep("/phases/3/template", "unit.saga")]))
    assert caught.value.extra["errors"][0]["code"] == "subworkflow_cycle"
