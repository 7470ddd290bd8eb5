"""What happened (audit trail, gate evaluations, dead letters, outbox events) and who may do human work."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from engine.models.instances import ItemRun, PhaseRun, WorkflowInstance
from engine.models.states import DeadLetterState


class Transition(models.Model):
    """One append-only audit row: a state change or a human action, with who made it and why."""

    # No database constraint and no cascade: the audit trail outlives the instance when an operator prunes
    # finished instances (engine.runtime.retention), unless they ask for it to go too.
    instance = models.ForeignKey(
        WorkflowInstance, on_delete=models.DO_NOTHING, db_constraint=False, related_name="transitions"
    )
    phase_run = models.ForeignKey(
        PhaseRun, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    item_run = models.ForeignKey(
        ItemRun, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    phase_id = models.CharField(max_length=63, blank=True)
    round = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=50)
    source = models.CharField(max_length=20)
    target = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=200, help_text="a username, or system:reaper, worker:host:pid, …"
    )
    reason = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["instance", "id"], name="transition_instance")]

    def __str__(self) -> str:
        subject = self.phase_id or "instance"
        return f"{subject}: {self.name} {self.source}→{self.target} by {self.actor_label}"


class GateResult(models.Model):
    """One evaluation of a gate: passed or not, why, the action code, and the values it looked at."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="gate_results")
    phase_run = models.ForeignKey(PhaseRun, on_delete=models.CASCADE, related_name="gate_results")
    round = models.PositiveIntegerField(default=1)
    passed = models.BooleanField()
    reason = models.TextField(blank=True)
    action = models.CharField(max_length=100, blank=True)
    values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.phase_run.phase_id}: {'passed' if self.passed else 'failed'}"


class DeadLetter(models.Model):
    """Work the engine gave up on: it waits here for a person to retry or discard it."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="dead_letters")
    phase_run = models.ForeignKey(PhaseRun, on_delete=models.CASCADE, related_name="dead_letters")
    item_run = models.ForeignKey(ItemRun, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    phase_id = models.CharField(max_length=63)
    category = models.CharField(max_length=20)
    message = models.TextField()
    error = models.JSONField(default=dict)
    attempt = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=20, choices=DeadLetterState.choices, default=DeadLetterState.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "-created_at"], name="deadletter_state"),
            models.Index(fields=["created_at"], name="deadletter_created"),  # failures of a time range
        ]
        permissions = [("resolve_deadletter", "Can retry or discard dead letters")]

    def __str__(self) -> str:
        return f"{self.phase_id}: {self.category}: {self.message[:60]}"


class Event(models.Model):
    """An outbox row written in the same transaction as the change it reports; delivered after commit."""

    instance = models.ForeignKey(
        WorkflowInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    name = models.CharField(max_length=80)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(delivered_at__isnull=True), name="event_undelivered"),
            # retention prunes delivered events by age
            models.Index(
                fields=["delivered_at"], condition=Q(delivered_at__isnull=False), name="event_delivered"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RoleAssignment(models.Model):
    """Gives a template role to a user or a group for one instance only (the tester of this report)."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=80)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(group__isnull=False), name="role_assignment_has_holder"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.user or self.group}"


class Comment(models.Model):
    """A note a person leaves on an instance or one of its phases."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="comments")
    phase_run = models.ForeignKey(
        PhaseRun, null=True, blank=True, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]
