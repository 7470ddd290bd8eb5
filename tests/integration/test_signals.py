"""Signals: buffered until the wait phase opens (with a TTL), addressed by template + business key,
idempotent by a client-supplied delivery id."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from engine.errors import Conflict
from engine.models import PhaseRun, Signal, Transition
from engine.runtime.actors import Actor
from engine.runtime.signals import deliver_signal
from engine.runtime.start import start_instance
from tests.factories import UserFactory
from tests.support.engine import publish, reload, states, template

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("test")


def confirmable(key: str = "confirm", **wait: object):
    return template(
        key,
        {"id": "prepare", "type": "task", "activity": "test.echo"},
        {"id": "confirmed", "type": "wait", "depends_on": ["prepare"], "signal": "confirmed", **wait},
        {
            "id": "ship",
            "type": "task",
            "activity": "test.echo",
            "depends_on": ["confirmed"],
            "input": {"by": "steps.confirmed.output.by"},
        },
    )


@pytest.fixture
def instance(broker):
    publish(confirmable(buffer="P1D"))
    return start_instance("confirm", {}, business_key="order-7")


def send(instance, name="confirmed", payload=None, **kwargs):
    return deliver_signal(
        instance_id=instance.pk, name=name, payload=payload or {"by": "ann"}, actor=ACTOR, **kwargs
    )


def test_a_signal_before_its_phase_opens_is_kept_and_consumed_when_it_opens(instance, broker):
    delivery = send(instance)
    assert (delivery.buffered, delivery.completed) == (True, ())
    assert states(instance)["confirmed"] == "pending"
    broker.drain()
    assert reload(instance).state == "completed"
    assert PhaseRun.objects.get(instance=instance, phase_id="ship").output == {"by": "ann", "attempt": 1}
    signal = Signal.objects.get()
    assert (signal.state, signal.phase_ids) == ("consumed", ["confirmed"])
    completed = Transition.objects.get(instance=instance, phase_id="confirmed", name="complete")
    assert completed.metadata == {"signal": "confirmed", "buffered_signal_id": signal.pk}
    assert Transition.objects.filter(instance=instance, name="signal_buffered").count() == 1


def test_buffered_signals_are_consumed_oldest_first_one_per_opening(instance, broker):
    send(instance, payload={"by": "first"})
    send(instance, payload={"by": "second"})
    broker.drain()
    assert PhaseRun.objects.get(instance=instance, phase_id="confirmed").output == {"by": "first"}
    assert list(Signal.objects.order_by("id").values_list("state", flat=True)) == ["consumed", "buffered"]


def test_an_expired_buffered_signal_is_not_consumed(instance, broker):
    send(instance)
    Signal.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    broker.drain()
    assert states(instance)["confirmed"] == "waiting"


def test_the_buffer_ttl_comes_from_the_phase(instance):
    delivery = send(instance)
    assert timedelta(hours=23, minutes=59) < delivery.expires_at - timezone.now() <= timedelta(days=1)


def test_without_a_phase_buffer_the_setting_decides(broker, settings):
    publish(confirmable("unbuffered"))
    instance = start_instance("unbuffered", {})
    settings.PHASEGATE = {**settings.PHASEGATE, "SIGNAL_BUFFER_SECONDS": 60}
    delivery = send(instance)
    assert delivery.expires_at - timezone.now() <= timedelta(seconds=60)
    settings.PHASEGATE = {**settings.PHASEGATE, "SIGNAL_BUFFER_SECONDS": 0}
    with pytest.raises(Conflict):
        send(instance)


def test_a_zero_buffer_refuses_early_signals_as_before(broker):
    publish(confirmable("strict", buffer="PT0S"))
    instance = start_instance("strict", {})
    with pytest.raises(Conflict):
        send(instance)
    assert not Signal.objects.exists()


def test_a_signal_no_phase_waits_for_is_refused(instance):
    with pytest.raises(Conflict):
        send(instance, name="cancelled")


def test_a_signal_after_its_phase_finished_is_refused(instance, broker):
    broker.drain()
    send(instance)
    broker.drain()
    with pytest.raises(Conflict):
        send(instance)


def test_a_repeated_delivery_id_changes_nothing(instance, broker):
    broker.drain()  # the wait phase is open now
    first = send(instance, delivery_id="msg-1")
    again = send(instance, delivery_id="msg-1", payload={"by": "someone else"})
    assert (first.completed, first.duplicate) == (("confirmed",), False)
    assert (again.completed, again.duplicate) == (("confirmed",), True)
    assert Signal.objects.count() == 1
    assert PhaseRun.objects.get(instance=instance, phase_id="confirmed").output == {"by": "ann"}


def test_a_delivery_id_reused_for_another_signal_is_a_conflict(instance):
    send(instance, delivery_id="msg-1")
    with pytest.raises(Conflict):
        send(instance, name="other", delivery_id="msg-1")


# --- API -------------------------------------------------------------------------------------------------


@pytest.fixture
def staff() -> APIClient:
    """Staff see every instance; delivering takes the signal permission (or a role the wait names)."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="signal_workflowinstance"))
    client = APIClient()
    client.force_login(user)
    return client


def correlated(**body):
    return {"template": "confirm", "business_key": "order-7", "name": "confirmed", **body}


def test_api_signal_by_business_key_is_kept_with_202_then_delivered_with_200(instance, broker, staff):
    response = staff.post("/api/signals/", correlated(payload={"by": "api"}), format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["buffered"] is True and response.json()["instance"] == str(instance.pk)
    broker.drain()
    assert reload(instance).state == "completed"


def test_api_signal_by_business_key_to_a_waiting_phase(instance, broker, staff):
    broker.drain()
    response = staff.post("/api/signals/", correlated(payload={"by": "api"}, id="ext-1"), format="json")
    assert response.status_code == 200
    assert (response.json()["completed"], response.json()["duplicate"]) == (["confirmed"], False)
    again = staff.post("/api/signals/", correlated(id="ext-1"), format="json")
    assert (again.status_code, again.json()["duplicate"]) == (200, True)


def test_api_idempotency_key_header_on_the_instance_endpoint(instance, broker, staff):
    url = f"/api/instances/{instance.pk}/signals/confirmed/"
    first = staff.post(url, {"by": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = staff.post(url, {"by": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["duplicate"] is True and Signal.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (correlated(business_key="order-8"), 404),
        (correlated(template="nothing"), 404),
        (correlated(name="bad name"), 400),
        (correlated(payload=[1]), 400),
        ({"template": "confirm"}, 400),
        (correlated(name="never"), 409),
    ],
)
def test_api_bad_correlated_signals(instance, staff, body, status):
    response = staff.post("/api/signals/", body, format="json")
    assert response.status_code == status
    assert set(response.json()) == {"code", "message", "extra"}


def test_api_correlated_signal_to_an_instance_you_cannot_see_is_403(instance):
    client = APIClient()
    client.force_login(UserFactory())
    assert client.post("/api/signals/", correlated(), format="json").status_code == 403
    assert not Signal.objects.exists()
