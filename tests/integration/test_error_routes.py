"""Error routes: a failure goes to the handler its category names (`catch`, then `on_fail.goto`); the
handler sees the error, its success carries on the graph, and the failing phase's other successors skip."""

from __future__ import annotations

import pytest

from engine.models import DeadLetter, PhaseRun, Transition
from engine.runtime.start import start_instance
from tests.support.engine import publish, reload, states, template

pytestmark = pytest.mark.django_db(transaction=True)


def routed(kind: str, *, fail_times: int = 1, **charge: object):
    return template(
        "routed",
        {
            "id": "charge",
            "type": "task",
            "activity": "test.flaky",
            "retry": {"max_attempts": 1},
            "input": {"fail_times": str(fail_times), "kind": f"'{kind}'"},
            "catch": [{"errors": ["data"], "goto": "fix"}],
            "on_fail": {"goto": "alert"},
            **charge,
        },
        {
            "id": "fix",
            "type": "task",
            "activity": "test.echo",
            "depends_on": ["charge"],
            "input": {"why": "steps.charge.error.message", "category": "steps.charge.error.category"},
        },
        {"id": "alert", "type": "task", "activity": "test.echo", "depends_on": ["charge"]},
        {"id": "ship", "type": "task", "activity": "test.echo", "depends_on": ["charge"]},
        {"id": "done", "type": "task", "activity": "test.echo", "depends_on": ["fix", "ship"]},
    )


def test_a_data_failure_goes_to_its_catch_handler_which_sees_the_error(broker):
    publish(routed("data"))
    instance = start_instance("routed", {})
    broker.drain()
    assert reload(instance).state == "completed"
    assert states(instance) == {
        "charge": "failed",
        "fix": "completed",
        "alert": "skipped",
        "ship": "skipped",
        "done": "completed",
    }
    fix = PhaseRun.objects.get(instance=instance, phase_id="fix")
    assert fix.output == {"why": "row 7 has no price", "category": "data", "attempt": 1}
    failed = Transition.objects.get(instance=instance, phase_id="charge", name="fail")
    assert failed.metadata == {"routed_to": "fix", "category": "data"}
    assert not DeadLetter.objects.exists()


def test_another_category_falls_back_to_on_fail_goto(broker):
    publish(routed("system"))
    instance = start_instance("routed", {})
    broker.drain()
    assert states(instance) == {
        "charge": "failed",
        "fix": "skipped",
        "alert": "completed",
        "ship": "skipped",
        "done": "skipped",
    }
    assert reload(instance).state == "completed"


def test_success_skips_the_handlers(broker):
    publish(routed("data", fail_times=0))
    instance = start_instance("routed", {})
    broker.drain()
    assert states(instance) == {
        "charge": "completed",
        "fix": "skipped",
        "alert": "skipped",
        "ship": "completed",
        "done": "completed",
    }


def test_an_unrouted_category_fails_the_instance_as_before(broker):
    publish(routed("system", on_fail="fail"))
    instance = start_instance("routed", {})
    broker.drain()
    assert reload(instance).state == "failed"
    assert DeadLetter.objects.filter(phase_id="charge").count() == 1


def test_retries_run_before_the_route(broker):
    publish(routed("transient", fail_times=2, retry={"max_attempts": 3, "initial_interval": "PT0S"}))
    instance = start_instance("routed", {})
    broker.drain(include_delayed=True)
    broker.drain(include_delayed=True)
    assert states(instance)["charge"] == "completed"


def test_a_failed_gate_goes_to_its_handler(broker):
    publish(
        template(
            "gated",
            {"id": "load", "type": "task", "activity": "test.echo", "input": {"rows": "0"}},
            {
                "id": "quality",
                "type": "gate",
                "depends_on": ["load"],
                "check": "steps.load.output.rows > 0",
                "action": "FIX_DATA_QUALITY",
                "on_fail": {"goto": "repair"},
            },
            {
                "id": "repair",
                "type": "task",
                "activity": "test.echo",
                "depends_on": ["quality"],
                "input": {"action": "steps.quality.error.action"},
            },
            {"id": "publish", "type": "task", "activity": "test.echo", "depends_on": ["quality"]},
        )
    )
    instance = start_instance("gated", {})
    broker.drain()
    assert states(instance) == {
        "load": "completed",
        "quality": "failed",
        "repair": "completed",
        "publish": "skipped",
    }
    assert PhaseRun.objects.get(instance=instance, phase_id="repair").output["action"] == "FIX_DATA_QUALITY"
    assert reload(instance).state == "completed"
