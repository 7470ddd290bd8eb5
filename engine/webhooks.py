"""Signed webhooks fed from the outbox.

Every few seconds `webhooks_deliver()` runs two steps, neither of which raises:

1. Fan-out (`webhook_deliveries_fan_out`): for each active webhook, one query picks the new outbox events that
   match its name patterns and template, and one insert creates their `WebhookDelivery` rows (the unique
   (webhook, event) pair makes a repeat harmless). `Webhook.last_event_id` is the cursor. It only moves past
   events older than SETTLE_SECONDS, so an event whose transaction commits a little after a later one is
   still picked up.
2. Delivery (`webhook_deliveries_send`): due deliveries are claimed one by one with a conditional update
   (two workers never send the same delivery at once), POSTed, and marked delivered on a 2xx. Anything else
   is a failure retried after 10 s, 20 s, 40 s … (at most an hour); after MAX_ATTEMPTS it is dead, and a
   person can retry it from the admin.

What a receiver gets, a POST with this JSON body:

    {"created_at": "2026-11-22T04:21:49.123+00:00", "id": 42, "name": "instance.completed", "payload": {}}

and these headers:

    Content-Type: application/json
    X-Phasegate-Event: instance.completed
    X-Phasegate-Delivery: 1234            (the same on every retry of this delivery: use it to deduplicate)
    X-Phasegate-Timestamp: 1795234909     (Unix seconds when this attempt was signed)
    X-Phasegate-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the secret>

To verify a delivery, the receiver takes the raw request body as bytes (before any JSON parsing), computes
HMAC-SHA256 with the webhook's secret over `timestamp + "." + body`, compares the hex digest with the one
after `sha256=` in constant time, and rejects a timestamp more than five minutes from its own clock (replays).
`verify_signature()` below does exactly that, and can be copied into a Python receiver as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from engine.models import DeliveryState, Event, Webhook, WebhookDelivery
from engine.models.webhooks import WEBHOOK_SCHEMES, webhook_secret_generate
from engine.webhook_addresses import AddressRefused, GuardedHTTPHandler, GuardedHTTPSHandler

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5
BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 3600
# A claimed delivery is not due again for this long; a worker that dies mid-send leaves it for a retry.
CLAIM_SECONDS = 60
SETTLE_SECONDS = 60
FAN_OUT_BATCH = 1000
SEND_BATCH = 100
# A sweep stops claiming deliveries after this long (slow receivers), well inside the task's time limits.
SEND_BUDGET_SECONDS = 60
USER_AGENT = "Phasegate-Webhooks/1"
REPLY_SNIPPET_BYTES = 200
DUE_STATES = (DeliveryState.PENDING, DeliveryState.FAILED)


# --- signing ---------------------------------------------------------------------------------------------


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sign(secret: str, timestamp: str | int, body: str | bytes) -> str:
    """The `X-Phasegate-Signature` value: `sha256=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"`."""
    message = str(timestamp).encode() + b"." + _as_bytes(body)
    return "sha256=" + hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: str | bytes,
    signature: str,
    tolerance: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """True when `signature` is ours for this timestamp and raw body, and the timestamp is within
    `tolerance` seconds of `now` (default: the current time)."""
    try:
        signed_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, signed_at, body), signature or "")


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: 10 s, 20 s, 40 s …, at most an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


# --- fan-out ---------------------------------------------------------------------------------------------


def events_matching(patterns: Iterable[str]) -> Q:
    """A filter on event names: `gate.failed` exactly, `instance.*` by prefix, `*` or nothing for all."""
    query = Q()
    patterns = [p.strip() for p in patterns if isinstance(p, str) and p.strip()]
    if not patterns or "*" in patterns:
        return Q()
    for pattern in patterns:
        if pattern.endswith(".*"):
            query |= Q(name__startswith=pattern[:-1])
        else:
            query |= Q(name=pattern)
    return query


def webhook_create(**fields: object) -> Webhook:
    """Create a webhook that hears about events from now on, not about the whole outbox history."""
    webhook = Webhook(**fields)
    webhook.full_clean()
    return webhook_save_new(webhook=webhook)


def webhook_save_new(*, webhook: Webhook) -> Webhook:
    """Save a validated, unsaved webhook: a secret if it has none, and its cursor at the newest event."""
    if not webhook.secret:
        webhook.secret = webhook_secret_generate()
    webhook.last_event_id = Event.objects.aggregate(last=Max("id"))["last"] or 0
    webhook.save()
    return webhook


def webhook_secret_rotate(*, webhook_id: int) -> str:
    """Give the webhook a new secret and return it (deliveries are signed with it from now on)."""
    secret = webhook_secret_generate()
    Webhook.objects.filter(pk=webhook_id).update(secret=secret)
    return secret


def webhook_deliveries_fan_out(*, now: datetime | None = None, batch: int = FAN_OUT_BATCH) -> int:
    """Create the deliveries of new events for every active webhook; return how many rows were inserted."""
    now = now or timezone.now()
    settled = now - timedelta(seconds=SETTLE_SECONDS)
    created = 0
    for webhook in Webhook.objects.filter(active=True).order_by("id"):
        try:
            created += _fan_out_one(webhook, now=now, settled=settled, batch=batch)
        except Exception:
            logger.exception("webhook fan-out failed for webhook #%s", webhook.pk)
    return created


def _fan_out_one(webhook: Webhook, *, now: datetime, settled: datetime, batch: int) -> int:
    events = Event.objects.filter(id__gt=webhook.last_event_id, created_at__gte=webhook.created_at)
    events = events.filter(events_matching(webhook.events or []))
    if webhook.template_id is not None:
        events = events.filter(instance__template_id=webhook.template_id)
    rows = list(events.order_by("id").values_list("id", flat=True)[:batch])
    # The cursor also moves over events that did not match, or the next sweep reads them again.
    scanned = Event.objects.filter(id__gt=webhook.last_event_id, created_at__lt=settled).order_by("id")
    if len(rows) == batch:
        scanned = scanned.filter(id__lte=rows[-1])
    cursor = scanned.aggregate(last=Max("id"))["last"]
    if rows:
        existing = WebhookDelivery.objects.filter(webhook=webhook, event_id__in=rows)
        before = existing.count()
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(webhook=webhook, event_id=event_id, next_attempt_at=now) for event_id in rows],
            ignore_conflicts=True,
        )
        inserted = existing.count() - before
    else:
        inserted = 0
    if cursor is not None and cursor > webhook.last_event_id:
        Webhook.objects.filter(pk=webhook.pk, last_event_id__lt=cursor).update(last_event_id=cursor)
    return inserted


# --- delivery --------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: a 3xx is a failed delivery, and nothing follows it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


def _opener() -> urllib.request.OpenerDirector:
    # Only http and https handlers: no file://, ftp:// or data: even if a URL slipped past validation. No
    # proxy either: the connection goes straight to the address the guard checked.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        GuardedHTTPHandler(),
        GuardedHTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _NoRedirect(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str = ""
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(event: Event) -> str:
    document = {
        "id": event.pk,
        "name": event.name,
        "created_at": event.created_at.isoformat(),
        "payload": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))


def webhook_post(*, url: str, secret: str, event: Event, delivery_id: int) -> Outcome:
    """POST one signed event; never raises, the outcome says what happened."""
    if urlsplit(url).scheme.lower() not in WEBHOOK_SCHEMES:
        return Outcome(None, f"refused: {urlsplit(url).scheme or 'no'} scheme is not http or https", True)
    body = event_body(event)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Phasegate-Event": event.name,
            "X-Phasegate-Delivery": str(delivery_id),
            "X-Phasegate-Timestamp": timestamp,
            "X-Phasegate-Signature": sign(secret, timestamp, body),
        },
    )
    try:
        with _opener().open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(1024)
            return Outcome(response.status)
    except urllib.error.HTTPError as exc:
        # Only the start of the reply is kept: the admin shows it, and the receiver's body is not ours.
        snippet = exc.read(REPLY_SNIPPET_BYTES).decode("utf-8", "replace") if exc.fp else ""
        return Outcome(exc.code, f"HTTP {exc.code} {exc.reason}: {snippet}".strip())
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, AddressRefused):
            return Outcome(None, str(exc.reason), True)
        return Outcome(None, f"{type(exc).__name__}: {exc}")
    except AddressRefused as exc:
        return Outcome(None, str(exc), True)
    except Exception as exc:  # network errors, timeouts, TLS, a malformed URL
        return Outcome(None, f"{type(exc).__name__}: {exc}")


def _claim(delivery: WebhookDelivery, *, now: datetime) -> bool:
    """Take the delivery for this worker: only one of two workers' conditional updates matches."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk, state=delivery.state, attempts=delivery.attempts, next_attempt_at__lte=now
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    )


def webhook_delivery_send(*, delivery: WebhookDelivery, now: datetime) -> str | None:
    """Claim, send and record one delivery; return its new state, or None if another worker had it."""
    if not _claim(delivery, now=now):
        return None
    attempts = delivery.attempts + 1
    webhook = delivery.webhook
    try:
        outcome = webhook_post(
            url=webhook.url, secret=webhook.secret, event=delivery.event, delivery_id=delivery.pk
        )
    except Exception as exc:  # webhook_post does not raise; this is a last guard for the sweep
        logger.exception("webhook delivery #%s crashed", delivery.pk)
        outcome = Outcome(None, f"{type(exc).__name__}: {exc}")
    finished = timezone.now()
    if outcome.ok:
        update = {
            "state": DeliveryState.DELIVERED,
            "delivered_at": finished,
            "last_status_code": outcome.status_code,
            "last_error": "",
            "next_attempt_at": None,
        }
    elif outcome.permanent or attempts >= MAX_ATTEMPTS:
        update = {
            "state": DeliveryState.DEAD,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error[:2000],
            "next_attempt_at": None,
        }
    else:
        update = {
            "state": DeliveryState.FAILED,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error[:2000],
            "next_attempt_at": now + backoff(attempts),
        }
    if not outcome.ok:
        logger.warning(
            "webhook %r delivery #%s (%s) attempt %s failed: %s",
            webhook.name,
            delivery.pk,
            delivery.event.name,
            attempts,
            outcome.error,
        )
    WebhookDelivery.objects.filter(pk=delivery.pk, attempts=attempts).update(**update)
    return update["state"]


def webhook_deliveries_send(*, now: datetime | None = None, batch: int = SEND_BATCH) -> int:
    """Send up to `batch` due deliveries; return how many were delivered. Never raises."""
    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(state__in=DUE_STATES, next_attempt_at__lte=now, webhook__active=True)
        .select_related("webhook", "event")
        .order_by("next_attempt_at", "id")[:batch]
    )
    delivered = 0
    deadline = time.monotonic() + SEND_BUDGET_SECONDS
    for delivery in list(due):
        if time.monotonic() > deadline:
            break
        try:
            if webhook_delivery_send(delivery=delivery, now=now) == DeliveryState.DELIVERED:
                delivered += 1
        except Exception:
            logger.exception("webhook delivery #%s could not be recorded", delivery.pk)
    return delivered


def webhooks_deliver(*, now: datetime | None = None) -> int:
    """The beat sweep: fan new events out to webhooks, then send what is due. Never raises."""
    now = now or timezone.now()
    try:
        webhook_deliveries_fan_out(now=now)
    except Exception:
        logger.exception("webhook fan-out failed")
    try:
        return webhook_deliveries_send(now=now)
    except Exception:
        logger.exception("webhook delivery sweep failed")
        return 0


def webhook_deliveries_retry(*, delivery_ids: Iterable[int], now: datetime | None = None) -> int:
    """Send dead (or failed) deliveries again from the first attempt; return how many were reset."""
    now = now or timezone.now()
    with transaction.atomic():
        return WebhookDelivery.objects.filter(
            pk__in=list(delivery_ids), state__in=(DeliveryState.DEAD, DeliveryState.FAILED)
        ).update(
            state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, last_error="", last_status_code=None
        )
