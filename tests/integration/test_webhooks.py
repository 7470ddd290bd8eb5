"""Signed webhooks from the outbox, sent to a real HTTP server on 127.0.0.1: what arrives and how it is
signed, which webhooks hear about which events, retries with backoff, giving up, and sending once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from engine import tasks
from engine import webhooks as hooks
from engine.models import DeliveryState, Event, Webhook, WebhookDelivery, WorkflowInstance, WorkflowTemplate
from engine.runtime.journal import emit_event, unit_of_work
from engine.runtime.start import start_instance
from engine.services import background
from engine.services.templates import template_load
from engine.webhooks import (
    MAX_ATTEMPTS,
    verify_signature,
    webhook_create,
    webhook_deliveries_retry,
    webhook_delivery_send,
    webhooks_deliver,
)

pytestmark = pytest.mark.django_db


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the test server got, and what it answers next (200 unless told otherwise)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    location: str = ""

    @property
    def names(self) -> list[str]:
        return [r.headers["X-Phasegate-Event"] for r in self.requests]


@pytest.fixture(autouse=True)
def private_receivers_allowed(settings) -> None:
    """The receiver listens on 127.0.0.1, which webhooks may reach only with this setting
    (test_webhook_addresses.py checks what happens without it)."""
    settings.PHASEGATE = {**settings.PHASEGATE, "WEBHOOK_ALLOW_PRIVATE": True}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if state.status >= 300 else b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def load(key: str) -> None:
    document = {
        "format": "phasegate/v1",
        "key": key,
        "name": key.title(),
        "phases": [{"id": "p", "type": "wait", "signal": "go"}],
    }
    template_load(document=document, publish=True)


def started(key: str = "hook") -> WorkflowInstance:
    load(key)
    return start_instance(key, {})


def emit(instance: WorkflowInstance, name: str, **payload: Any) -> Event:
    with unit_of_work():
        emit_event(instance_id=instance.pk, name=name, payload=payload)
    return Event.objects.filter(name=name).latest("id")


def hook(receiver: Receiver, **fields: Any) -> Webhook:
    return webhook_create(**{"name": "receiver", "url": receiver.url, **fields})


def test_an_engine_event_arrives_signed_with_its_headers(broker, receiver):
    webhook = hook(receiver, events=["gate.failed"])
    instance = started()
    event = emit(instance, "gate.failed", phase_id="p", reason="too many nulls")

    assert webhooks_deliver() == 1

    [request] = receiver.requests
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Phasegate-Event"] == "gate.failed"
    assert request.headers["X-Phasegate-Delivery"] == str(delivery.pk)
    assert request.json == {
        "id": event.pk,
        "name": "gate.failed",
        "created_at": event.created_at.isoformat(),
        "payload": {"phase_id": "p", "reason": "too many nulls"},
    }
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (DeliveryState.DELIVERED, 1, 200)
    assert delivery.delivered_at is not None


def test_the_signature_verifies_and_fails_for_an_altered_body(broker, receiver):
    webhook = hook(receiver)
    started()
    webhooks_deliver()

    request = receiver.requests[0]
    timestamp, signature = request.headers["X-Phasegate-Timestamp"], request.headers["X-Phasegate-Signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(webhook.secret, timestamp, request.body, signature)
    assert not verify_signature(webhook.secret, timestamp, request.body.replace(b"}", b" }", 1), signature)
    assert not verify_signature("another secret", timestamp, request.body, signature)
    assert not verify_signature(webhook.secret, int(timestamp) + 1, request.body, signature)


def test_an_old_timestamp_is_refused_even_with_a_good_signature():
    signature = hooks.sign("s3cret", 1_000_000, b"{}")

    assert verify_signature("s3cret", 1_000_000, b"{}", signature, now=1_000_300)
    assert not verify_signature("s3cret", 1_000_000, b"{}", signature, now=1_000_301)
    assert not verify_signature("s3cret", "not a number", b"{}", signature)


def test_a_blank_secret_is_generated(receiver):
    webhook = hook(receiver, secret="")

    assert len(webhook.secret) >= 40


def test_starting_an_instance_is_delivered(broker, receiver):
    hook(receiver, events=["instance.*"])
    instance = started()

    webhooks_deliver()

    assert receiver.names == ["instance.running"]
    assert receiver.requests[0].json["payload"]["instance_id"] == str(instance.pk)


def test_event_patterns_choose_the_events(broker, receiver):
    gates = hook(receiver, name="gates", events=["gate.failed"])
    instances = hook(receiver, name="instances", events=["instance.*"])
    everything = hook(receiver, name="everything", events=[])
    instance = started()
    emit(instance, "gate.failed")
    emit(instance, "sla.at_risk")

    webhooks_deliver()

    def names(webhook: Webhook) -> list[str]:
        return sorted(WebhookDelivery.objects.filter(webhook=webhook).values_list("event__name", flat=True))

    assert names(gates) == ["gate.failed"]
    assert names(instances) == ["instance.running"]
    assert names(everything) == sorted(Event.objects.values_list("name", flat=True))
    assert {"gate.failed", "instance.running", "sla.at_risk", "phase.ready"} <= set(names(everything))
    assert len(receiver.requests) == 2 + len(names(everything))


def test_a_template_filter_keeps_other_templates_out(broker, receiver):
    load("other")
    webhook = hook(receiver, events=["instance.*"], template=WorkflowTemplate.objects.get(key="other"))
    started("hook")
    other = start_instance("other", {})

    webhooks_deliver()

    [delivery] = WebhookDelivery.objects.filter(webhook=webhook).select_related("event")
    assert delivery.event.instance_id == other.pk
    assert [r.json["payload"]["instance_id"] for r in receiver.requests] == [str(other.pk)]


def test_a_500_is_a_failure_retried_after_a_backoff(broker, receiver):
    receiver.status = 500
    hook(receiver, events=["instance.*"])
    started()
    now = timezone.now()

    assert webhooks_deliver(now=now) == 0

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (DeliveryState.FAILED, 1, 500)
    assert delivery.next_attempt_at == now + timedelta(seconds=10)
    assert delivery.last_error.startswith("HTTP 500")

    webhooks_deliver(now=now + timedelta(seconds=9))
    assert len(receiver.requests) == 1

    later = now + timedelta(seconds=10)
    webhooks_deliver(now=later)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 2)
    assert delivery.next_attempt_at == later + timedelta(seconds=20)

    receiver.status = 200
    webhooks_deliver(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (DeliveryState.DELIVERED, 3, "")
    assert len(receiver.requests) == 3


def test_backoff_doubles_up_to_an_hour():
    assert [hooks.backoff(n).total_seconds() for n in (1, 2, 3, 4, 9, 30)] == [10, 20, 40, 80, 2560, 3600]


def test_a_delivery_is_dead_after_the_last_attempt(broker, receiver):
    receiver.status = 500
    hook(receiver, events=["instance.*"])
    started()
    now = timezone.now()

    for _ in range(MAX_ATTEMPTS):
        webhooks_deliver(now=now)
        now += timedelta(hours=1)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (DeliveryState.DEAD, 8, None)
    assert len(receiver.requests) == MAX_ATTEMPTS

    webhooks_deliver(now=now + timedelta(days=1))
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_a_dead_delivery_can_be_retried(broker, receiver):
    webhook = hook(receiver, events=["instance.*"])
    started()
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event=Event.objects.get(name="instance.running"),
        state=DeliveryState.DEAD,
        attempts=8,
    )

    assert webhook_deliveries_retry(delivery_ids=[delivery.pk]) == 1
    webhooks_deliver()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 1)


def test_a_delivery_is_not_sent_twice(broker, receiver):
    hook(receiver, events=["instance.*"])
    started()
    now = timezone.now()

    webhooks_deliver(now=now)
    webhooks_deliver(now=now + timedelta(minutes=5))

    assert receiver.names == ["instance.running"]
    assert WebhookDelivery.objects.get().attempts == 1


def test_a_claimed_delivery_is_not_sent_by_a_second_worker(broker, receiver):
    hook(receiver, events=["instance.*"])
    started()
    now = timezone.now()
    hooks.webhook_deliveries_fan_out(now=now)
    first = WebhookDelivery.objects.select_related("webhook", "event").get()
    second = WebhookDelivery.objects.select_related("webhook", "event").get()

    assert webhook_delivery_send(delivery=first, now=now) == DeliveryState.DELIVERED
    assert webhook_delivery_send(delivery=second, now=now) is None
    assert len(receiver.requests) == 1


def test_inactive_webhooks_get_nothing(broker, receiver):
    hook(receiver, active=False)
    started()

    webhooks_deliver()

    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_a_new_webhook_does_not_get_older_events(broker, receiver):
    started()
    hook(receiver)

    webhooks_deliver()

    assert receiver.requests == []


def test_the_cursor_moves_past_settled_events_only(broker, receiver):
    webhook = hook(receiver, events=["gate.failed"])
    instance = started()
    newest = emit(instance, "sla.at_risk")
    now = timezone.now()

    hooks.webhook_deliveries_fan_out(now=now)
    webhook.refresh_from_db()
    assert webhook.last_event_id < newest.pk

    hooks.webhook_deliveries_fan_out(now=now + timedelta(seconds=hooks.SETTLE_SECONDS + 1))
    webhook.refresh_from_db()
    assert webhook.last_event_id == newest.pk


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)"])
def test_a_url_that_is_not_http_is_rejected(url):
    with pytest.raises(ValidationError) as error:
        webhook_create(name="bad", url=url)

    assert list(error.value.message_dict) == ["url"]


def test_events_must_be_a_list_of_names(receiver):
    with pytest.raises(ValidationError) as error:
        hook(receiver, events={"instance.*": True})

    assert list(error.value.message_dict) == ["events"]


def test_a_url_that_is_not_http_is_never_sent_to(broker, receiver):
    webhook = hook(receiver, events=["instance.*"])
    Webhook.objects.filter(pk=webhook.pk).update(url="file:///etc/passwd")
    started()

    webhooks_deliver()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_error) == (
        DeliveryState.DEAD,
        "refused: file scheme is not http or https",
    )


def test_a_redirect_is_not_followed(broker, receiver):
    receiver.status = 302
    receiver.location = "http://example.invalid/elsewhere"
    hook(receiver, events=["instance.*"])
    started()

    webhooks_deliver()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status_code) == (DeliveryState.FAILED, 302)
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_a_failure_not_an_exception(broker):
    webhook_create(name="nobody", url="http://127.0.0.1:9/hooks", events=["instance.*"])
    started()

    assert webhooks_deliver() == 0

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status_code) == (DeliveryState.FAILED, None)
    assert delivery.last_error


def test_the_beat_task_runs_the_sweep(monkeypatch):
    calls = []
    # The task reaches the sweep through the services' background module, which bound it at import.
    monkeypatch.setattr(background, "webhooks_deliver", lambda: calls.append("swept") or 3)

    assert tasks.webhooks_deliver() == 3
    assert calls == ["swept"]


@pytest.fixture
def superuser_client():
    from django.test import Client

    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_generates_a_secret_shows_it_once_and_then_only_its_start(superuser_client, receiver):
    response = superuser_client.post(
        reverse("admin:engine_webhook_add"),
        {"name": "ops", "url": receiver.url, "secret": "", "events": '["instance.*"]', "active": "on"},
        follow=True,
    )

    webhook = Webhook.objects.get(name="ops")
    assert len(webhook.secret) >= 40
    assert webhook.secret in response.content.decode()
    page = superuser_client.get(reverse("admin:engine_webhook_change", args=[webhook.pk])).content.decode()
    assert webhook.secret not in page
    assert f"{webhook.secret[:4]}…" in page


def test_the_admin_refuses_a_url_that_is_not_http(superuser_client):
    response = superuser_client.post(
        reverse("admin:engine_webhook_add"),
        {"name": "bad", "url": "ftp://example.com/x", "secret": "", "events": "[]", "active": "on"},
    )

    assert response.status_code == 200
    assert not Webhook.objects.exists()


def test_the_admin_retries_dead_deliveries(broker, superuser_client, receiver):
    webhook = hook(receiver, events=["instance.*"])
    started()
    dead = WebhookDelivery.objects.create(
        webhook=webhook,
        event=Event.objects.get(name="instance.running"),
        state=DeliveryState.DEAD,
        attempts=8,
    )

    superuser_client.post(
        reverse("admin:engine_webhookdelivery_changelist"),
        {"action": "retry_deliveries", "_selected_action": [dead.pk]},
    )

    dead.refresh_from_db()
    assert (dead.state, dead.attempts) == (DeliveryState.PENDING, 0)
    page = superuser_client.get(reverse("admin:engine_webhookdelivery_change", args=[dead.pk]))
    assert "instance.running" in page.content.decode()
