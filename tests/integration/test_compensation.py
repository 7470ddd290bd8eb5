"""Compensation (a saga): when the third of three phases fails, the first two are undone in reverse
completion order as audited steps with their own retries; an operator may compensate a cancelled instance.
In-process first, then with a real Celery worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.errors import Conflict, FormInvalid, PermissionDenied, TransitionRejected
from engine.models import CompensationRun, Event, PhaseRun, Transition, WorkflowInstance
from engine.runtime import compensation
from engine.runtime.actors import Actor
from engine.runtime.operations import cancel_instance as instance_cancel
from engine.runtime.start import start_instance
from tests.factories import UserFactory
from tests.support.engine import WORKER, publish, reload, states, template
from tests.support.human import grant
from tests.support.worker import Worker, purge_broker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def saga(*, ship_fails: bool = True, refund_fails: int = 0, **top: object):
    return template(
        "saga",
        {
            "id": "reserve",
            "type": "task",
            "activity": "test.echo",
            "input": {"sku": "'A-1'"},
            "compensate": {"activity": "test.echo", "input": {"release": "steps.reserve.output.sku"}},
        },
        {
            "id": "charge",
            "type": "task",
            "activity": "test.echo",
            "depends_on": ["reserve"],
            "input": {"amount": "42"},
            "compensate": {
                "activity": "test.flaky",
                "input": {"fail_times": str(refund_fails), "refund": "steps.charge.output.amount"},
                "retry": {"max_attempts": 3, "initial_interval": "PT0S"},
            },
        },
        {
            "id": "ship",
            "type": "task",
            "activity": "test.flaky",
            "depends_on": ["charge"],
            "retry": {"max_attempts": 1},
            "input": {"fail_times": "1" if ship_fails else "0", "kind": "'data'"},
        },
        **top,
    )


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Compensation messages, collected instead of sent; `run_all` plays the worker."""
    messages: list[int] = []
    monkeypatch.setattr(compensation, "celery_send", lambda step_id, **_: messages.append(step_id))
    return messages


def run_all(sent: list[int]) -> None:
    for _ in range(50):
        if not sent:
            return
        compensation.compensation_run(step_id=sent.pop(0), actor=WORKER)
    raise AssertionError("compensations kept sending")


def audit(instance, *names):
    rows = Transition.objects.filter(instance=instance, name__in=names).order_by("id")
    return [(row.phase_id, row.name) for row in rows]


def test_a_failed_saga_compensates_its_completed_phases_in_reverse_order(broker, sent):
    publish(saga(refund_fails=1))
    instance = start_instance("saga", {})
    broker.drain()
    assert reload(instance).state == "failed"
    assert states(instance) == {"reserve": "completed", "charge": "completed", "ship": "failed"}
    steps = list(CompensationRun.objects.filter(instance=instance).order_by("order"))
    assert [(s.order, s.phase_id, s.state) for s in steps] == [
        (1, "charge", "ready"),
        (2, "reserve", "pending"),
    ]
    run_all(sent)
    steps = list(CompensationRun.objects.filter(instance=instance).order_by("order"))
    assert [(s.phase_id, s.state, s.attempt) for s in steps] == [
        ("charge", "completed", 2),
        ("reserve", "completed", 1),
    ]
    assert steps[0].output == {"ok": True, "attempt": 2}
    assert steps[1].output == {"release": "A-1", "attempt": 1}
    assert audit(instance, "compensate_start", "compensate_retry", "compensate_complete") == [
        ("charge", "compensate_start"),
        ("charge", "compensate_retry"),
        ("charge", "compensate_start"),
        ("charge", "compensate_complete"),
        ("reserve", "compensate_start"),
        ("reserve", "compensate_complete"),
    ]


def test_a_compensation_that_fails_for_good_stops_the_chain(broker, sent):
    publish(saga(refund_fails=5))
    instance = start_instance("saga", {})
    broker.drain()
    run_all(sent)
    steps = list(CompensationRun.objects.filter(instance=instance).order_by("order"))
    assert [(s.phase_id, s.state) for s in steps] == [("charge", "failed"), ("reserve", "pending")]
    assert steps[0].attempt == 3 and steps[0].error["category"] == "transient"
    assert Event.objects.filter(instance=instance, name="compensation.failed").count() == 1


def test_a_successful_saga_compensates_nothing(broker, sent):
    publish(saga(ship_fails=False))
    instance = start_instance("saga", {})
    broker.drain()
    assert reload(instance).state == "completed"
    assert not CompensationRun.objects.exists()


def test_manual_compensation_only_when_the_template_says_so(broker, sent):
    publish(saga(compensation={"on_failure": False}))
    instance = start_instance("saga", {})
    broker.drain()
    assert reload(instance).state == "failed" and not CompensationRun.objects.exists()
    operator = grant(UserFactory(is_staff=True), "override_workflowinstance")
    steps = compensation.instance_compensate(
        instance_id=instance.pk, user=operator, reason="refund the customer"
    )
    assert [s.phase_id for s in steps] == ["charge", "reserve"]
    run_all(sent)
    assert set(CompensationRun.objects.values_list("state", flat=True)) == {"completed"}
    planned = Transition.objects.filter(instance=instance, name="compensation_planned").first()
    assert (planned.reason, planned.actor_label) == ("refund the customer", operator.username)
    with pytest.raises(Conflict):
        compensation.instance_compensate(instance_id=instance.pk, user=operator, reason="again")


def test_an_operator_compensates_a_cancelled_instance(broker, sent):
    document = saga()
    document["phases"][2] = {"id": "ship", "type": "wait", "depends_on": ["charge"], "signal": "shipped"}
    publish(document)
    instance = start_instance("saga", {})
    broker.drain()  # reserve and charge done, ship waiting
    instance_cancel(instance_id=instance.pk, actor=Actor.system("test"), reason="customer cancelled")
    operator = grant(UserFactory(), "override_workflowinstance")
    steps = compensation.instance_compensate(
        instance_id=instance.pk, user=operator, reason="customer cancelled"
    )
    assert [s.phase_id for s in steps] == ["charge", "reserve"]


def test_compensate_needs_permission_reason_and_a_finished_instance(broker, sent):
    publish(saga(ship_fails=False))
    instance = start_instance("saga", {})
    operator = grant(UserFactory(), "override_workflowinstance")
    with pytest.raises(PermissionDenied):
        compensation.instance_compensate(instance_id=instance.pk, user=UserFactory(), reason="r")
    with pytest.raises(FormInvalid):
        compensation.instance_compensate(instance_id=instance.pk, user=operator, reason=" ")
    with pytest.raises(TransitionRejected):
        compensation.instance_compensate(instance_id=instance.pk, user=operator, reason="r")


def test_a_duplicate_message_runs_nothing(broker, sent):
    publish(saga())
    instance = start_instance("saga", {})
    broker.drain()
    step_id = sent[0]
    run_all(sent)
    assert compensation.compensation_run(step_id=step_id, actor=WORKER) is False
    assert CompensationRun.objects.get(pk=step_id).attempt == 1
    assert instance.pk


def test_api_compensate_and_list(broker, sent):
    from rest_framework.test import APIClient

    publish(saga(compensation={"on_failure": False}))
    instance = start_instance("saga", {})
    broker.drain()
    client = APIClient()
    client.force_login(grant(UserFactory(is_staff=True), "override_workflowinstance"))
    url = f"/api/instances/{instance.pk}/compensate/"
    assert client.post(url, {"reason": ""}, format="json").status_code == 400
    response = client.post(url, {"reason": "undo"}, format="json")
    assert response.status_code == 200
    assert [s["phase_id"] for s in response.json()] == ["charge", "reserve"]
    assert client.post(url, {"reason": "undo"}, format="json").status_code == 409
    listed = client.get(f"/api/instances/{instance.pk}/compensations/").json()
    assert [(s["order"], s["state"]) for s in listed] == [(1, "ready"), (2, "pending")]


def test_progress_page_shows_the_compensations(broker, sent, client):
    publish(saga())
    instance = start_instance("saga", {})
    broker.drain()
    run_all(sent)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(f"/workflows/{instance.pk}/")
    assert page.status_code == 200
    assert b"Compensation" in page.content and b"compensated" in page.content


# --- with a real worker --------------------------------------------------------------------------------


@pytest.fixture
def worker(tmp_path) -> Iterator[Worker]:
    purge_broker()
    running = Worker(tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.mark.integration
def test_the_saga_compensates_on_a_real_worker(worker):
    publish(saga(refund_fails=1))
    instance = start_instance("saga", {})

    def compensated():
        return set(CompensationRun.objects.filter(instance=instance).values_list("state", flat=True)) == {
            "completed"
        }

    wait_for(compensated, timeout=90)
    assert WorkflowInstance.objects.get(pk=instance.pk).state == "failed"
    order = audit(instance, "compensate_complete")
    assert order == [("charge", "compensate_complete"), ("reserve", "compensate_complete")]
    assert PhaseRun.objects.get(instance=instance, phase_id="charge").state == "completed"
