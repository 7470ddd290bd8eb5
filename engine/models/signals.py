"""Signals sent to instances: delivered to waiting phases at once, or kept until a wait phase opens."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from engine.models.instances import WorkflowInstance


class SignalState(models.TextChoices):
    DELIVERED = "delivered", "Delivered to waiting phases"
    BUFFERED = "buffered", "Kept until a phase waits for it"
    CONSUMED = "consumed", "Consumed by a phase that opened later"


class Signal(models.Model):
    """One delivery of a signal; `delivery_id` (the client's) makes a repeated delivery a no-op."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="signals")
    name = models.CharField(max_length=80)
    payload = models.JSONField(default=dict, blank=True)
    delivery_id = models.CharField(max_length=200, null=True, blank=True)
    state = models.CharField(max_length=20, choices=SignalState.choices)
    phase_ids = models.JSONField(default=list, blank=True, help_text="the phases it completed")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="a buffered signal is dropped then")
    actor_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "delivery_id"],
                condition=Q(delivery_id__isnull=False),
                name="one_signal_per_delivery_id",
            ),
        ]
        indexes = [
            models.Index(
                fields=["instance", "name", "id"], condition=Q(state="buffered"), name="signal_buffered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"
