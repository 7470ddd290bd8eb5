"""Webhooks reach public addresses only: refused at save and again at delivery, after DNS resolution, unless
PHASEGATE_WEBHOOK_ALLOW_PRIVATE is on; what a receiver answers is stored truncated."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from engine.models import Event, Webhook
from engine.webhook_addresses import is_public
from engine.webhooks import REPLY_SNIPPET_BYTES, webhook_create, webhook_post

pytestmark = pytest.mark.django_db


def allow_private(settings, allowed: bool) -> None:
    settings.PHASEGATE = {**settings.PHASEGATE, "WEBHOOK_ALLOW_PRIVATE": allowed}


@pytest.fixture
def receiver() -> Iterator[dict[str, Any]]:
    """A real HTTP server on 127.0.0.1 that answers 500 with a long body."""
    seen: dict[str, Any] = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen["requests"] += 1
            body = b"<secret>" + b"x" * 10_000
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen["port"] = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
    ],
)
def test_inside_addresses_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_public(address):
    assert is_public(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/hook",
        "http://[::1]:8080/hook",
        "http://localhost:8000/hook",  # resolved: localhost is 127.0.0.1
    ],
)
def test_a_webhook_to_an_inside_address_is_refused_at_save(settings, url):
    allow_private(settings, False)
    with pytest.raises(ValidationError) as refused:
        webhook_create(name="inside", url=url)
    assert "not a public address" in str(refused.value.message_dict["url"])
    assert not Webhook.objects.exists()


def test_the_setting_allows_inside_addresses(settings):
    allow_private(settings, True)
    assert webhook_create(name="inside", url="http://127.0.0.1:8000/hook").pk


def test_a_saved_webhook_is_checked_again_at_delivery_after_resolving_its_name(settings, receiver):
    allow_private(settings, True)
    url = f"http://localhost:{receiver['port']}/hook"
    webhook_create(name="later-inside", url=url)
    allow_private(settings, False)
    event = Event(pk=1, name="instance.completed", payload={}, created_at=timezone.now())
    outcome = webhook_post(url=url, secret="s", event=event, delivery_id=1)
    assert (outcome.status_code, outcome.permanent) == (None, True)
    assert "localhost (127.0.0.1) is not a public address" in outcome.error
    assert receiver["requests"] == 0


def test_a_reply_body_is_kept_only_in_part(settings, receiver):
    allow_private(settings, True)
    event = Event(pk=1, name="instance.completed", payload={}, created_at=timezone.now())
    outcome = webhook_post(
        url=f"http://127.0.0.1:{receiver['port']}/hook", secret="s", event=event, delivery_id=1
    )
    assert outcome.status_code == 500 and receiver["requests"] == 1
    assert outcome.error.startswith("HTTP 500 Internal Server Error: <secret>xxx")
    assert len(outcome.error) <= len("HTTP 500 Internal Server Error: ") + REPLY_SNIPPET_BYTES
