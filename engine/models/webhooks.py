"""Webhooks: other programs that hear about outbox events, and each signed delivery made to them."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q

from engine.models.records import Event
from engine.models.templates import WorkflowTemplate

WEBHOOK_SCHEMES = ("http", "https")


def webhook_secret_generate() -> str:
    return secrets.token_urlsafe(32)


class Webhook(models.Model):
    """A URL that receives outbox events as signed JSON POSTs, filtered by event name and template."""

    name = models.CharField(max_length=200)
    url = models.URLField(
        max_length=2000,
        validators=[URLValidator(schemes=list(WEBHOOK_SCHEMES))],
        help_text="http:// or https:// only; redirects are not followed.",
    )
    secret = models.CharField(
        max_length=200,
        blank=True,
        default=webhook_secret_generate,
        help_text="Signs each delivery (HMAC-SHA256). Left blank, one is generated.",
    )
    events = models.JSONField(
        default=list,
        blank=True,
        help_text='Event names or prefixes, e.g. ["instance.*", "gate.failed"]; empty means every event.',
    )
    template = models.ForeignKey(
        WorkflowTemplate,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhooks",
        help_text="Only events of this template's instances; empty means every template.",
    )
    active = models.BooleanField(default=True)
    last_event_id = models.BigIntegerField(
        default=0, editable=False, help_text="Fan-out cursor: events up to this id have their deliveries."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from engine.webhook_addresses import AddressRefused, check_url

        try:
            check_url(self.url or "")
        except AddressRefused as exc:
            raise ValidationError({"url": str(exc)}) from None
        events = self.events
        if not isinstance(events, list) or not all(isinstance(e, str) and e.strip() for e in events):
            raise ValidationError({"events": 'A list of event names or prefixes, e.g. ["instance.*"].'})


class DeliveryState(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed (will retry)"
    DEAD = "dead", "dead (gave up)"


class WebhookDelivery(models.Model):
    """One event for one webhook: sent until the receiver answers 2xx, or given up after MAX_ATTEMPTS."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="webhook_deliveries")
    state = models.CharField(max_length=20, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "failed"]),
                name="webhook_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.webhook} ← {self.event}: {self.state}"
