"""Sub-workflows: the parent phase waits for its child, takes its output, follows retry and routes on a
child failure; maps run a child per item; cancel/suspend/resume cascade; depth is bounded; pages link both
ways; and it all runs on a real worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.models import PhaseRun, Transition, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.operations import cancel_instance as instance_cancel
from engine.runtime.operations import resume_instance as instance_resume
from engine.runtime.operations import suspend_instance as instance_suspend
from engine.runtime.start import start_instance
from engine.runtime.subworkflows import subworkflows_reconcile
from tests.factories import UserFactory
from tests.support.engine import publish, reload, states, template
from tests.support.worker import Worker, purge_broker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("test")


def child(kind: str = "", fail_times: int = 0, **work: object):
    return template(
        "sub.child",
        {
            "id": "work",
            "type": "task",
            "activity": "test.flaky" if kind else "test.echo",
            "retry": {"max_attempts": 1},
            "input": {
                "n": "params.n",
                **({"fail_times": str(fail_times), "kind": f"'{kind}'"} if kind else {}),
            },
            **work,
        },
        params={"type": "object", "properties": {"n": {}}},
    )


def parent(**call: object):
    return template(
        "sub.parent",
        {"id": "start", "type": "task", "activity": "test.echo", "input": {"n": "7"}},
        {
            "id": "call",
            "type": "subworkflow",
            "depends_on": ["start"],
            "template": "sub.child",
            "input": {"n": "steps.start.output.n"},
            **call,
        },
        {
            "id": "after",
            "type": "task",
            "activity": "test.echo",
            "depends_on": ["call"],
            "input": {"got": "steps.call.output.steps.work.n"},
        },
    )


def children(instance):
    return list(WorkflowInstance.objects.filter(parent_phase_run__instance=instance).order_by("created_at"))


def test_the_parent_waits_for_its_child_and_takes_its_output(broker):
    publish(child())
    publish(parent())
    instance = start_instance("sub.parent", {}, business_key="order-1")
    broker.drain()
    assert reload(instance).state == "completed"
    [kid] = children(instance)
    assert (kid.business_key, kid.depth, kid.state, kid.params) == ("order-1/call", 1, "completed", {"n": 7})
    call = PhaseRun.objects.get(instance=instance, phase_id="call")
    assert call.output == {
        "instance_id": str(kid.pk),
        "business_key": "order-1/call",
        "steps": {"work": {"n": 7, "attempt": 1}},
    }
    assert PhaseRun.objects.get(instance=instance, phase_id="after").output == {"got": 7, "attempt": 1}
    started = Transition.objects.get(instance=instance, name="subworkflow_start")
    assert started.metadata["child"] == str(kid.pk)


def test_the_business_key_comes_from_cel(broker):
    publish(child())
    publish(parent(business_key="'symbol-' + string(steps.start.output.n)"))
    instance = start_instance("sub.parent", {})
    broker.drain()
    assert children(instance)[0].business_key == "symbol-7"


def test_a_failed_child_is_retried_with_a_new_child_then_fails_the_phase(broker):
    publish(child("data", fail_times=5))
    publish(parent(retry={"max_attempts": 2}))
    instance = start_instance("sub.parent", {})
    broker.drain()
    kids = children(instance)
    assert [k.state for k in kids] == ["failed", "failed"]
    call = PhaseRun.objects.get(instance=instance, phase_id="call")
    assert (call.state, call.error["category"]) == ("failed", "child")
    assert call.error["child"] == str(kids[1].pk)
    assert reload(instance).state == "failed"
    assert Transition.objects.filter(instance=instance, name="subworkflow_retry").count() == 1


def test_a_child_failure_follows_the_phases_error_route(broker):
    publish(child("data", fail_times=5))
    document = parent(catch=[{"errors": ["child"], "goto": "recover"}])
    document["phases"].append(
        {
            "id": "recover",
            "type": "task",
            "activity": "test.echo",
            "depends_on": ["call"],
            "input": {"why": "steps.call.error.category"},
        }
    )
    publish(document)
    instance = start_instance("sub.parent", {})
    broker.drain()
    assert states(instance) == {
        "start": "completed",
        "call": "failed",
        "after": "skipped",
        "recover": "completed",
    }
    assert reload(instance).state == "completed"


def test_a_map_runs_a_child_per_item(broker):
    publish(child())
    publish(
        template(
            "sub.fanout",
            {
                "id": "each",
                "type": "map",
                "items": "[10, 20, 30]",
                "template": "sub.child",
                "input": {"n": "item"},
                "max_concurrency": 2,
            },
        )
    )
    instance = start_instance("sub.fanout", {}, business_key="batch")
    broker.drain()
    assert reload(instance).state == "completed"
    kids = children(instance)
    assert sorted(k.business_key for k in kids) == ["batch/each/0", "batch/each/1", "batch/each/2"]
    output = PhaseRun.objects.get(instance=instance, phase_id="each").output
    assert [r["steps"]["work"]["n"] for r in output["results"]] == [10, 20, 30]
    assert output["failed"] == []


def waiting_child():
    return template(
        "sub.child",
        {"id": "hold", "type": "wait", "signal": "go"},
        params={"type": "object", "properties": {"n": {}}},
    )


def test_cancel_suspend_and_resume_cascade_to_the_child(broker):
    publish(waiting_child())
    publish(parent())
    instance = start_instance("sub.parent", {})
    broker.drain()
    [kid] = children(instance)
    assert kid.state == "running"
    instance_suspend(instance_id=instance.pk, actor=ACTOR, reason="hold on")
    assert reload(kid).state == "suspended"
    instance_resume(instance_id=instance.pk, actor=ACTOR, reason="go on")
    assert reload(kid).state == "running"
    instance_cancel(instance_id=instance.pk, actor=ACTOR, reason="no longer needed")
    assert (reload(instance).state, reload(kid).state) == ("cancelled", "cancelled")
    assert Transition.objects.get(instance=kid, phase_id="", name="cancel").reason.endswith(
        "no longer needed"
    )


def test_depth_is_bounded(broker, settings):
    settings.PHASEGATE = {**settings.PHASEGATE, "MAX_SUBWORKFLOW_DEPTH": 1}
    publish(child())
    middle = template(
        "sub.middle",
        {"id": "call", "type": "subworkflow", "template": "sub.child"},
        params={"type": "object", "properties": {"n": {}}},
    )
    publish(middle)
    publish(parent(template="sub.middle", retry={"max_attempts": 1}))
    instance = start_instance("sub.parent", {})
    broker.drain()
    [mid] = children(instance)
    call = PhaseRun.objects.get(instance=mid, phase_id="call")
    assert call.state == "failed" and call.error["message"].startswith("subworkflow_too_deep")
    assert reload(instance).state == "failed"


def test_a_lost_notification_is_settled_by_the_sweep(broker, monkeypatch):
    from engine.runtime import subworkflows

    publish(child())
    publish(parent())
    monkeypatch.setattr(subworkflows, "notify_parent", lambda child: None)
    instance = start_instance("sub.parent", {})
    broker.drain()
    assert states(instance)["call"] == "active" and children(instance)[0].state == "completed"
    assert subworkflows_reconcile() == 1
    broker.drain()
    assert reload(instance).state == "completed"


def test_progress_pages_link_parent_and_child(broker, client):
    publish(child())
    publish(parent())
    instance = start_instance("sub.parent", {})
    broker.drain()
    [kid] = children(instance)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    parent_page = client.get(f"/workflows/{instance.pk}/").content.decode()
    child_page = client.get(f"/workflows/{kid.pk}/").content.decode()
    assert f"/workflows/{kid.pk}/" in parent_page
    assert f"/workflows/{instance.pk}/" in child_page and "Started by phase" in child_page


@pytest.fixture
def worker(tmp_path) -> Iterator[Worker]:
    purge_broker()
    running = Worker(tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.mark.integration
def test_a_sub_workflow_on_a_real_worker(worker):
    publish(child())
    publish(parent())
    instance = start_instance("sub.parent", {})
    done = wait_for(lambda: reload(instance).is_finished, timeout=90)
    assert done and reload(instance).state == "completed"
    assert PhaseRun.objects.get(instance=instance, phase_id="after").output["got"] == 7
