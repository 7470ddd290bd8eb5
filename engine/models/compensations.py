"""Compensations: the undo activity of a completed phase, run after its instance failed or was cancelled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from engine.models.fsm import ConcurrentTransitionModel
from engine.models.instances import PhaseRun, WorkflowInstance
from engine.models.states import PhaseState

S = PhaseState


class CompensationRun(ConcurrentTransitionModel, models.Model):
    """One compensation step; `order` 1 runs first (the phase that completed last)."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="compensations")
    phase_run = models.ForeignKey(PhaseRun, on_delete=models.CASCADE, related_name="compensations")
    phase_id = models.CharField(max_length=63)
    order = models.PositiveIntegerField()
    activity = models.CharField(max_length=200)
    input = models.JSONField(default=dict, blank=True)
    state = FSMField(choices=PhaseState.choices, default=PhaseState.PENDING, protected=True)
    attempt = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=36, null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["instance", "order"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "order"], name="one_compensation_per_order")
        ]
        indexes = [
            models.Index(
                fields=["next_run_at"], condition=Q(state__in=["waiting", "ready"]), name="compensation_due"
            ),
            models.Index(
                fields=["lease_expires_at"], condition=Q(state="active"), name="compensation_leases"
            ),
        ]

    def __str__(self) -> str:
        return f"compensate {self.phase_id} ({self.state})"

    @transition(field="state", source=S.PENDING, target=S.READY)
    def make_ready(self) -> None:
        self.next_run_at = None

    @transition(field="state", source=[S.READY, S.WAITING], target=S.ACTIVE)
    def claim_attempt(self, *, token: str, at: datetime, lease_expires_at: datetime) -> None:
        self.attempt += 1
        self.lease_token, self.lease_expires_at = token, lease_expires_at
        self.started_at = self.started_at or at

    @transition(field="state", source=S.ACTIVE, target=S.WAITING)
    def wait_retry(self, *, error: dict[str, Any], next_run_at: datetime) -> None:
        self.error, self.next_run_at = error, next_run_at
        self.lease_token = self.lease_expires_at = None

    @transition(field="state", source=S.ACTIVE, target=S.COMPLETED)
    def complete(self, *, output: dict[str, Any], at: datetime) -> None:
        self.output, self.error, self.finished_at = output, None, at
        self.lease_token = self.lease_expires_at = None

    @transition(field="state", source=[S.PENDING, S.READY, S.ACTIVE, S.WAITING], target=S.FAILED)
    def fail(self, *, error: dict[str, Any], at: datetime) -> None:
        self.error, self.finished_at, self.next_run_at = error, at, None
        self.lease_token = self.lease_expires_at = None

    @transition(field="state", source=[S.PENDING, S.READY, S.WAITING], target=S.CANCELLED)
    def cancel(self, *, at: datetime) -> None:
        self.finished_at, self.next_run_at = at, None
