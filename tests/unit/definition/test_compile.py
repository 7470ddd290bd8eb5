"""compile_template(): the frozen plan a valid document compiles to."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

import engine.definition.compiler as compiler_module
import engine.definition.semantics as semantics_module
from engine.definition.calendar import BusinessCalendar
from engine.definition.compiler import compile_template
from engine.definition.expressions import compile_expression
from engine.definition.plan import NO_RETRY, Branch, RetryPolicy, SlaPolicy
from engine.definition.problems import DocumentInvalid
from tests.unit.definition.documents import ACTIVITIES, base_document, fixture_documents, minimal_document


def wait(phase_id, *depends_on):
    phase = {"id": phase_id, "type": "wait", "duration": "PT1M"}
    if depends_on:
        phase["depends_on"] = list(depends_on)
    return phase


def task(phase_id, **fields):
    return {"id": phase_id, "type": "task", "activity": "unit.ingest", **fields}


def test_phases_are_in_topological_order_with_ties_in_document_order():
    plan = compile_template(minimal_document(wait("c", "a"), wait("a"), wait("b", "a"), wait("d", "c", "b")))

    assert plan.order == ("a", "c", "b", "d")


def test_independent_phases_keep_document_order():
    plan = compile_template(minimal_document(wait("z"), wait("y"), wait("x")))

    assert plan.order == ("z", "y", "x")
    assert plan.roots == ("z", "y", "x")


def test_predecessors_and_successors_are_in_document_order():
    plan = compile_template(minimal_document(wait("a"), wait("b"), wait("c", "b", "a"), wait("d", "a")))

    assert plan.predecessors["c"] == ("a", "b")
    assert plan.successors["a"] == ("c", "d")
    assert plan.successors["d"] == ()
    assert plan.phases["c"].depends_on == ("b", "a")  # as written


def test_plan_mappings_are_read_only():
    plan = compile_template(base_document())

    with pytest.raises(TypeError):
        plan.phases["extra"] = plan.phases["intake"]  # type: ignore[index]
    with pytest.raises(TypeError):
        plan.successors["intake"] = ()  # type: ignore[index]


def test_template_fields_are_carried_over():
    plan = compile_template(base_document())

    assert (plan.key, plan.name, plan.description) == ("unit.base", "Base", "Every phase type once.")
    assert dict(plan.roles) == {"analyst": "Analyst", "lead": "Lead"}
    assert plan.params_schema == base_document()["params"]
    assert plan.calendar == BusinessCalendar(
        timezone="America/New_York",
        workdays=frozenset({1, 2, 3, 4, 5}),
        holidays=frozenset({date(2026, 12, 25)}),
    )


def test_calendar_defaults_to_utc_weekdays():
    plan = compile_template(minimal_document(wait("a")))

    assert plan.calendar == BusinessCalendar()


def test_name_defaults_to_the_id():
    plan = compile_template(minimal_document(wait("a")))

    assert plan.phases["a"].name == "a"


def test_task_without_any_retry_gets_the_plan_defaults():
    plan = compile_template(minimal_document(task("t")))

    assert plan.phases["t"].retry == RetryPolicy()
    assert plan.phases["t"].retry.max_attempts == 3
    assert plan.phases["t"].retry.jitter is False


def test_phase_retry_is_merged_field_by_field_over_defaults_retry():
    document = minimal_document(task("t", retry={"max_attempts": 7, "jitter": True}), task("u"))
    document["defaults"] = {"retry": {"max_attempts": 2, "initial_interval": "PT1M", "backoff": 3}}

    plan = compile_template(document)

    assert plan.phases["t"].retry == RetryPolicy(
        max_attempts=7, initial_interval=timedelta(minutes=1), backoff=3.0, jitter=True
    )
    assert plan.phases["u"].retry == RetryPolicy(
        max_attempts=2, initial_interval=timedelta(minutes=1), backoff=3.0
    )


def test_retry_on_is_a_tuple_in_document_order():
    plan = compile_template(minimal_document(task("t", retry={"retry_on": ["rate_limit", "transient"]})))

    assert plan.phases["t"].retry.retry_on == ("rate_limit", "transient")


def test_phases_a_person_or_the_engine_runs_are_not_retried():
    plan = compile_template(base_document())

    for phase_id in ("intake", "quality", "route", "pause"):
        assert plan.phases[phase_id].retry == NO_RETRY


def test_gate_backed_by_an_activity_is_retried_like_a_task():
    document = minimal_document(
        {"id": "g", "type": "gate", "activity": "unit.check", "retry": {"max_attempts": 2}}
    )

    phase = compile_template(document).phases["g"]

    assert phase.is_automated
    assert phase.retry == RetryPolicy(max_attempts=2)
    assert phase.check is None


def test_timeout_comes_from_the_phase_or_from_defaults():
    document = minimal_document(task("own", timeout="PT5M"), task("inherited"))
    document["defaults"] = {"timeout": "PT1H"}

    plan = compile_template(document)

    assert plan.phases["own"].timeout == timedelta(minutes=5)
    assert plan.phases["inherited"].timeout == timedelta(hours=1)


def test_human_phase_without_sla_gets_defaults_sla():
    plan = compile_template(base_document())

    assert plan.phases["intake"].sla == SlaPolicy(duration=timedelta(days=2), escalate_to=("lead",))


def test_human_phase_sla_replaces_defaults_sla():
    plan = compile_template(base_document())

    assert plan.phases["review"].sla == SlaPolicy(
        duration=timedelta(days=1), business_days=True, at_risk=0.5, escalate_to=("lead",)
    )


def test_sla_defaults_do_not_apply_to_automated_phases():
    plan = compile_template(base_document())

    assert plan.phases["ingest"].sla is None
    assert plan.phases["fan_out"].sla is None


def test_human_phase_outcomes_and_reopen_on():
    plan = compile_template(base_document())

    review = plan.phases["review"]
    assert review.outcomes == ("approved", "rework")
    assert dict(review.reopen_on) == {"rework": "intake"}
    assert plan.phases["intake"].outcomes == ("done",)
    assert dict(plan.phases["intake"].reopen_on) == {}
    assert plan.phases["intake"].form == base_document()["phases"][0]["form"]


def test_task_fields_are_compiled():
    ingest = compile_template(base_document()).phases["ingest"]

    assert ingest.activity == "unit.ingest"
    assert ingest.timeout == timedelta(minutes=30)
    assert ingest.heartbeat == timedelta(minutes=1)
    assert ingest.on_fail == "fail"
    assert ingest.retry.max_attempts == 5
    assert ingest.retry.max_interval == timedelta(minutes=5)  # from defaults.retry
    assert ingest.input["report"].evaluate({"params": {"report_id": 7}}) == 7


def test_gate_fields_are_compiled():
    quality = compile_template(base_document()).phases["quality"]

    assert quality.check.evaluate({"steps": {"ingest": {"output": {"rows": 3}}}}) is True
    assert (quality.message, quality.action, quality.on_fail) == ("no rows", "RETRY_INGESTION", "fail")
    assert not quality.is_automated


def test_choice_branches_and_targets():
    route = compile_template(base_document()).phases["route"]

    assert route.choices == (Branch(when=route.choices[0].when, then=("fan_out",)),)
    assert route.choices[0].when.source == "steps.ingest.output.rows > 100"
    assert route.otherwise == ("pause",)
    assert route.choice_targets == ("fan_out", "pause")


def test_map_fields_are_compiled():
    fan_out = compile_template(base_document()).phases["fan_out"]

    assert fan_out.items.source == "steps.ingest.output.batches"
    assert (fan_out.max_concurrency, fan_out.tolerated_failure) == (4, 0.1)
    assert fan_out.input["batch"].evaluate({"item": {"n": 1}}) == {"n": 1}
    assert fan_out.timeout == timedelta(hours=1)  # defaults.timeout


def test_wait_timeout_becomes_the_signal_timeout():
    plan = compile_template(base_document())

    assert (plan.phases["pause"].signal, plan.phases["pause"].signal_timeout) == ("resume", timedelta(days=1))
    assert plan.phases["pause"].timeout is None
    assert plan.phases["settle"].duration == timedelta(hours=1)


def test_positions_point_back_into_the_document():
    plan = compile_template(minimal_document(wait("b", "a"), wait("a")))

    assert plan.phases["a"].position == 1
    assert plan.phases["b"].position == 0


def test_compiling_twice_gives_equal_plans():
    first, second = compile_template(base_document()), compile_template(base_document())

    assert first == second
    assert first.order == second.order
    assert [phase.retry for phase in first.phases.values()] == [
        phase.retry for phase in second.phases.values()
    ]


def test_json_text_compiles_to_the_same_plan():
    assert compile_template(json.dumps(base_document())) == compile_template(base_document())
    assert compile_template(json.dumps(base_document()).encode()) == compile_template(base_document())


def test_invalid_template_raises_with_every_problem():
    document = base_document()
    document["phases"][0]["roles"] = ["nobody"]
    document["phases"][2]["depends_on"] = ["nowhere"]

    with pytest.raises(DocumentInvalid) as raised:
        compile_template(document)

    assert [(p.code, p.path) for p in raised.value.problems] == [
        ("unknown_role", "/phases/0/roles/0"),
        ("unknown_phase", "/phases/2/depends_on/0"),
    ]
    assert raised.value.extra["errors"][0]["code"] == "unknown_role"


def test_registered_activities_are_checked_when_given():
    with pytest.raises(DocumentInvalid) as raised:
        compile_template(base_document(), activities={"unit.ingest"})

    assert [(p.code, p.path) for p in raised.value.problems] == [("unknown_activity", "/phases/5/activity")]
    assert compile_template(base_document(), activities=ACTIVITIES).key == "unit.base"


@pytest.mark.parametrize(
    ("name", "document"), fixture_documents(), ids=[name for name, _ in fixture_documents()]
)
def test_golden_fixture_compiles_in_dependency_order(name, document):
    plan = compile_template(document)

    assert len(plan.order) == len(document["phases"])
    for position, phase_id in enumerate(plan.order):
        assert all(plan.order.index(dep) < position for dep in plan.predecessors[phase_id])


def test_each_distinct_expression_is_compiled_once(monkeypatch):
    sources = []

    def counting(source):
        sources.append(source)
        return compile_expression(source)

    monkeypatch.setattr(semantics_module, "compile_expression", counting)
    monkeypatch.setattr(compiler_module, "compile_expression", counting)
    document = base_document()
    document["phases"][5]["input"]["again"] = "params.report_id"  # the same source as ingest's input

    compile_template(document)

    assert sorted(sources) == sorted(set(sources))
    assert len(sources) == 5
