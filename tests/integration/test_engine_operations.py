"""Operations on instances and phases, each audited with its actor and reason."""

from __future__ import annotations

import pytest

from engine.errors import TransitionRejected
from engine.models import DeadLetter, ItemRun, PhaseRun, Transition
from engine.runtime import operations
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from tests.support.engine import publish, reload, states, template

pytestmark = pytest.mark.django_db(transaction=True)
ADMIN = Actor(label="admin")


def two_steps(fail_times: int = 0, **first: object) -> None:
    publish(
        template(
            "ops",
            {
                "id": "first",
                "type": "task",
                "activity": "test.flaky",
                "retry": {"max_attempts": 1},
                "input": {"fail_times": str(fail_times)},
                **first,
            },
            {"id": "second", "type": "task", "activity": "test.echo", "depends_on": ["first"]},
        )
    )


def test_cancel_cancels_the_instance_and_its_open_phases(broker):
    two_steps()
    instance = start_instance("ops", {})
    operations.cancel_instance(instance_id=instance.pk, actor=ADMIN, reason="wrong week")
    assert reload(instance).state == "cancelled"
    assert states(instance) == {"first": "cancelled", "second": "cancelled"}
    broker.drain()  # the message already sent finds nothing to do
    assert states(instance) == {"first": "cancelled", "second": "cancelled"}
    row = Transition.objects.get(instance=instance, phase_id="", name="cancel")
    assert (row.actor_label, row.reason) == ("admin", "wrong week")


def test_nothing_is_dispatched_while_suspended_and_resume_sends_it_again(broker):
    two_steps()
    instance = start_instance("ops", {})
    operations.suspend_instance(instance_id=instance.pk, actor=ADMIN, reason="maintenance")
    broker.drain()
    assert states(instance)["first"] == "ready"
    operations.resume_instance(instance_id=instance.pk, actor=ADMIN, reason="done")
    broker.drain()
    assert reload(instance).state == "completed"


def test_suspend_of_a_finished_instance_is_rejected(broker):
    two_steps()
    instance = start_instance("ops", {})
    broker.drain()
    with pytest.raises(TransitionRejected):
        operations.suspend_instance(instance_id=instance.pk, actor=ADMIN, reason="late")


def test_retry_of_a_failed_instance_runs_its_failed_phases_again(broker):
    two_steps(fail_times=1)
    instance = start_instance("ops", {})
    broker.drain()
    assert reload(instance).state == "failed"
    operations.retry_instance(instance_id=instance.pk, actor=ADMIN, reason="upstream fixed")
    broker.drain()
    assert reload(instance).state == "completed"
    assert DeadLetter.objects.get(instance=instance).state == "retried"


def test_skip_of_the_failed_phase_lets_the_instance_go_on(broker):
    two_steps(fail_times=5)
    instance = start_instance("ops", {})
    broker.drain()
    operations.skip_phase(
        instance_id=instance.pk, phase_id="first", actor=ADMIN, reason="not needed this week"
    )
    broker.drain()
    assert reload(instance).state == "completed"
    assert states(instance) == {"first": "skipped", "second": "skipped"}


def test_reopen_of_a_running_instance(broker):
    publish(
        template(
            "reo",
            {"id": "a", "type": "task", "activity": "test.echo"},
            {"id": "b", "type": "task", "activity": "test.echo", "depends_on": ["a"]},
            {"id": "hold", "type": "wait", "signal": "go", "depends_on": ["b"]},
        )
    )
    instance = start_instance("reo", {})
    broker.drain()
    assert states(instance) == {"a": "completed", "b": "completed", "hold": "waiting"}
    reset = operations.reopen_phase(instance_id=instance.pk, phase_id="a", actor=ADMIN, reason="redo")
    assert reset == ["a", "b", "hold"]
    assert states(instance) == {"a": "ready", "b": "pending", "hold": "pending"}
    broker.drain()
    assert states(instance) == {"a": "completed", "b": "completed", "hold": "waiting"}
    run = PhaseRun.objects.get(instance=instance, phase_id="a")
    assert run.round == 2
    assert Transition.objects.filter(instance=instance, phase_id="a", name="complete").count() == 2


def test_a_completed_instance_is_reopened_from_a_phase(broker):
    two_steps()
    instance = start_instance("ops", {})
    broker.drain()
    assert reload(instance).state == "completed"
    reset = operations.reopen_phase(instance_id=instance.pk, phase_id="first", actor=ADMIN, reason="redo it")
    assert reset == ["first", "second"]
    assert reload(instance).state == "running" and reload(instance).finished_at is None
    broker.drain()
    assert reload(instance).state == "completed"


def test_reopening_a_completed_instance_whose_business_key_is_taken_is_a_conflict(broker):
    from engine.errors import Conflict

    two_steps()
    done = start_instance("ops", {}, business_key="week-1")
    broker.drain()
    start_instance("ops", {}, business_key="week-1")  # the key is free again once the first finished
    with pytest.raises(Conflict):
        operations.reopen_phase(instance_id=done.pk, phase_id="first", actor=ADMIN, reason="redo")
    assert reload(done).state == "completed"


def test_a_cancelled_instance_cannot_be_reopened(broker):
    two_steps()
    instance = start_instance("ops", {})
    operations.cancel_instance(instance_id=instance.pk, actor=ADMIN, reason="no")
    with pytest.raises(TransitionRejected):
        operations.reopen_phase(instance_id=instance.pk, phase_id="first", actor=ADMIN, reason="x")


def test_dead_letter_retry_runs_the_phase_again(broker):
    two_steps(fail_times=1)
    instance = start_instance("ops", {})
    broker.drain()
    letter = DeadLetter.objects.get(instance=instance)
    operations.retry_dead_letter(dead_letter_id=letter.pk, actor=ADMIN, reason="try again")
    broker.drain()
    assert reload(instance).state == "completed"
    letter.refresh_from_db()
    assert (letter.state, letter.resolution_reason) == ("retried", "try again")
    with pytest.raises(TransitionRejected):
        operations.retry_dead_letter(dead_letter_id=letter.pk, actor=ADMIN, reason="again")


def test_dead_letter_discard_keeps_the_instance_as_it_is(broker):
    two_steps(fail_times=1)
    instance = start_instance("ops", {})
    broker.drain()
    letter = DeadLetter.objects.get(instance=instance)
    operations.discard_dead_letter(dead_letter_id=letter.pk, actor=ADMIN, reason="known bad file")
    letter.refresh_from_db()
    assert letter.state == "discarded"
    assert reload(instance).state == "failed"


def test_dead_letter_retry_of_a_map_item_runs_only_that_item(broker):
    publish(
        template(
            "mp",
            {
                "id": "each",
                "type": "map",
                "items": "params.items",
                "activity": "test.flaky",
                "input": {"fail_times": "item"},
                "retry": {"max_attempts": 1},
            },
        )
    )
    instance = start_instance("mp", {"items": [0, 1, 0]})
    broker.drain()
    assert reload(instance).state == "failed"
    letter = DeadLetter.objects.get(instance=instance)
    operations.retry_dead_letter(dead_letter_id=letter.pk, actor=ADMIN, reason="flake")
    broker.drain()
    assert reload(instance).state == "completed"
    claims = [
        Transition.objects.filter(item_run=item, name="claim_attempt").count()
        for item in ItemRun.objects.filter(instance=instance).order_by("index")
    ]
    assert claims == [1, 2, 1]
