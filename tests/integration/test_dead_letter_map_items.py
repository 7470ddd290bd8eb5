"""Replaying a map item from the dead-letter queue whose failure the map tolerated (`tolerated_failure`):
on a running instance the map collects again and completes with the item's result; a finished instance is
reopened for the item, audited, and completes again."""

from __future__ import annotations

import pytest

from engine.errors import TransitionRejected
from engine.models import DeadLetter, ItemRun, PhaseRun, Transition
from engine.runtime import operations
from engine.runtime.actors import Actor
from engine.runtime.signals import deliver_signal
from engine.runtime.start import start_instance
from tests.support.engine import publish, reload, states, template

pytestmark = pytest.mark.django_db(transaction=True)
ADMIN = Actor(label="admin")
ITEMS = {"items": [0, 1, 0]}  # item 1 fails its first attempt (a tolerated failure), then succeeds


def tolerant_map(key: str, *after: dict) -> None:
    publish(
        template(
            key,
            {
                "id": "each",
                "type": "map",
                "items": "params.items",
                "activity": "test.flaky",
                "input": {"fail_times": "item"},
                "retry": {"max_attempts": 1},
                "tolerated_failure": 0.5,
            },
            *after,
        )
    )


def replay(instance) -> DeadLetter:
    letter = DeadLetter.objects.get(instance=instance)
    assert letter.item_run.index == 1
    operations.retry_dead_letter(dead_letter_id=letter.pk, actor=ADMIN, reason="the feed is back")
    letter.refresh_from_db()
    return letter


def item_states(instance) -> list[str]:
    return list(ItemRun.objects.filter(instance=instance).order_by("index").values_list("state", flat=True))


def test_replaying_a_tolerated_item_of_a_finished_instance_reopens_it_for_that_item(broker):
    tolerant_map("mapdone")
    instance = start_instance("mapdone", ITEMS)
    broker.drain()
    assert reload(instance).state == "completed"
    each = PhaseRun.objects.get(instance=instance, phase_id="each")
    assert each.output["failed"] == [1]

    letter = replay(instance)
    assert letter.state == "retried"
    reopened = Transition.objects.get(instance=instance, phase_run=None, name="reopen")
    assert (reopened.source, reopened.target, reopened.reason) == ("completed", "running", "the feed is back")
    assert reopened.metadata == {"phase_id": "each", "item": 1}
    assert reload(instance).state == "running"

    broker.drain()
    assert reload(instance).state == "completed"
    each.refresh_from_db()
    assert each.state == "completed"
    assert each.output == {
        "results": [{"ok": True, "attempt": 1}, {"ok": True, "attempt": 2}, {"ok": True, "attempt": 1}],
        "failed": [],
    }
    assert item_states(instance) == ["completed"] * 3
    audited = Transition.objects.filter(phase_run=each, item_run=None).values_list("name", flat=True)
    assert list(audited).count("complete") == 2 and "replay_items" in audited


def test_replaying_a_tolerated_item_of_a_running_instance_completes_the_map_again(broker):
    tolerant_map(
        "maprun",
        {"id": "hold", "type": "wait", "signal": "go", "depends_on": ["each"]},
    )
    instance = start_instance("maprun", ITEMS)
    broker.drain()
    assert states(instance) == {"each": "completed", "hold": "waiting"}

    replay(instance)
    broker.drain()
    assert item_states(instance) == ["completed"] * 3  # the item did not stay active
    each = PhaseRun.objects.get(instance=instance, phase_id="each")
    assert (each.state, each.output["failed"]) == ("completed", [])
    assert reload(instance).state == "running"
    deliver_signal(instance_id=instance.pk, name="go", payload={}, actor=Actor.system("test"))
    broker.drain()
    assert reload(instance).state == "completed"


def test_a_replay_of_an_item_of_a_cancelled_instance_is_refused(broker):
    tolerant_map("mapcancel", {"id": "hold", "type": "wait", "signal": "go", "depends_on": ["each"]})
    instance = start_instance("mapcancel", ITEMS)
    broker.drain()
    operations.cancel_instance(instance_id=instance.pk, actor=ADMIN, reason="stop")
    with pytest.raises(TransitionRejected):
        replay(instance)
    assert DeadLetter.objects.get(instance=instance).state == "open"
    assert item_states(instance) == ["completed", "failed", "completed"]
