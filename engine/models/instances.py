"""Running workflows: instances, one run per phase, one run per map item.

Transition methods only check their arguments and set fields; services save them and write the audit trail.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from engine.models.fsm import ConcurrentTransitionModel
from engine.models.states import FINISHED_INSTANCE_STATES, InstanceState, PhaseState, SlaStatus
from engine.models.templates import TemplateVersion, WorkflowTemplate

S = PhaseState
I = InstanceState  # noqa: E741


class WorkflowInstance(ConcurrentTransitionModel, models.Model):
    """One run of a published template version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(WorkflowTemplate, on_delete=models.PROTECT, related_name="instances")
    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="instances")
    business_key = models.CharField(max_length=200, null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    state = FSMField(choices=InstanceState.choices, default=InstanceState.CREATED, protected=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # Time spent suspended does not count against SLAs: due times move out by each suspension's length.
    suspended_seconds = models.FloatField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    # A sub-workflow knows the phase (and map item) of its parent that started it, and how deep it nests.
    parent_phase_run = models.ForeignKey(
        "engine.PhaseRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="child_instances"
    )
    parent_item_run = models.ForeignKey(
        "engine.ItemRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="child_instances"
    )
    depth = models.PositiveSmallIntegerField(default=0, help_text="0 for a top-level instance")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Idempotent start: one unfinished instance per (template, business key), even under a race.
            models.UniqueConstraint(
                fields=["template", "business_key"],
                condition=Q(state__in=["created", "running", "suspended"]) & Q(business_key__isnull=False),
                name="one_unfinished_instance_per_business_key",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-created_at"], name="instance_state_created"),
            # the lists' order (newest first, id breaks ties), unfiltered and by template
            models.Index(fields=["created_at", "id"], name="instance_created"),
            models.Index(fields=["template", "created_at", "id"], name="instance_template_created"),
            models.Index(fields=["business_key"], name="instance_business_key"),
            # the inbox joins open phases to running instances of the versions whose roles the user holds
            models.Index(
                fields=["state", "version"], include=["id", "template"], name="instance_state_version"
            ),
            # the dashboard's figures of a time range; retention picks finished instances by age
            models.Index(fields=["finished_at"], name="instance_finished"),
        ]
        permissions = [
            ("override_workflowinstance", "Can override workflow instances (suspend, resume, cancel, retry)"),
            ("migrate_workflowinstance", "Can move running workflow instances to another template version"),
            ("signal_workflowinstance", "Can deliver any signal to workflow instances"),
        ]

    def __str__(self) -> str:
        label = self.business_key or str(self.id)[:8]
        return f"{self.template.key} {label}"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_INSTANCE_STATES

    @transition(field="state", source=I.CREATED, target=I.RUNNING)
    def start(self, *, at: datetime) -> None:
        self.started_at = at

    @transition(field="state", source=I.RUNNING, target=I.COMPLETED)
    def complete(self, *, at: datetime) -> None:
        self.finished_at, self.error = at, None

    @transition(field="state", source=[I.RUNNING, I.SUSPENDED], target=I.FAILED)
    def fail(self, *, at: datetime, error: dict[str, Any]) -> None:
        self.finished_at, self.error = at, error
        self._end_suspension(at)

    @transition(field="state", source=[I.CREATED, I.RUNNING, I.SUSPENDED, I.FAILED], target=I.CANCELLED)
    def cancel(self, *, at: datetime) -> None:
        self.finished_at = at
        self._end_suspension(at)

    @transition(field="state", source=I.RUNNING, target=I.SUSPENDED)
    def suspend(self, *, at: datetime) -> None:
        self.suspended_at = at

    @transition(field="state", source=I.SUSPENDED, target=I.RUNNING)
    def resume(self, *, at: datetime) -> None:
        self._end_suspension(at)

    @transition(field="state", source=I.COMPLETED, target=I.RUNNING)
    def reopen(self, *, at: datetime) -> None:
        """A completed instance runs again: a dead letter replayed, or a phase an administrator reopened."""
        self.finished_at = None

    @transition(field="state", source=I.FAILED, target=I.RUNNING)
    def retry(self, *, at: datetime) -> None:
        self.finished_at, self.error = None, None

    def _end_suspension(self, at: datetime) -> None:
        if self.suspended_at is not None:
            self.suspended_seconds += max((at - self.suspended_at).total_seconds(), 0.0)
            self.suspended_at = None


class AttemptRun(ConcurrentTransitionModel, models.Model):
    """What a phase run and a map item run share: attempts under a lease, retries, output and errors."""

    state = FSMField(choices=PhaseState.choices, default=PhaseState.PENDING, protected=True)
    attempt = models.PositiveIntegerField(
        default=0, help_text="attempts so far, counting every round of retries"
    )
    retry_base = models.PositiveIntegerField(
        default=0, help_text="attempts before the last manual retry: the retry policy counts from here"
    )
    lease_token = models.CharField(max_length=36, null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lost_attempts = models.PositiveIntegerField(
        default=0, help_text="attempts in a row whose worker vanished"
    )
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="when a retry or timer is due")
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="when a message to run this was last sent (the sweeps send it once)"
    )
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    checkpoint = models.JSONField(null=True, blank=True)
    input_override = models.JSONField(
        null=True, blank=True, help_text="an operator's corrected input: used instead of the phase's mapping"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @transition(field="state", source=S.PENDING, target=S.READY)
    def make_ready(self) -> None:
        self.next_run_at = self.sent_at = None

    @transition(field="state", source=S.READY, target=S.ACTIVE)
    def claim_attempt(self, *, token: str, owner: str, at: datetime, lease_expires_at: datetime) -> None:
        self.attempt += 1
        self.lease_token, self.lease_owner, self.lease_expires_at = token, owner, lease_expires_at
        self.started_at = self.started_at or at

    @transition(field="state", source=S.ACTIVE, target=S.WAITING)
    def wait_retry(self, *, error: dict[str, Any], next_run_at: datetime, lost: bool = False) -> None:
        self.error, self.next_run_at = error, next_run_at
        # The engine sends the retry's message with a delay when it schedules it: the due-work sweep sends
        # it again only if it has not run some time after it was due.
        self.sent_at = next_run_at
        self.lost_attempts = self.lost_attempts + 1 if lost else 0
        self._drop_lease()

    @transition(field="state", source=S.WAITING, target=S.READY)
    def wake(self) -> None:
        self.next_run_at = None

    @transition(field="state", source=[S.ACTIVE, S.WAITING], target=S.COMPLETED)
    def complete(self, *, output: dict[str, Any], at: datetime) -> None:
        self.output, self.error, self.finished_at = output, None, at
        self.next_run_at, self.lost_attempts = None, 0
        self._drop_lease()

    @transition(field="state", source=[S.ACTIVE, S.WAITING, S.READY], target=S.FAILED)
    def fail(self, *, error: dict[str, Any], at: datetime, lost: bool = False) -> None:
        self.error, self.finished_at, self.next_run_at = error, at, None
        self.lost_attempts = self.lost_attempts + 1 if lost else 0
        self._drop_lease()

    @property
    def policy_attempt(self) -> int:
        """The attempt number the retry policy sees: a manual retry gives a fresh budget."""
        return self.attempt - self.retry_base

    @transition(field="state", source=S.FAILED, target=S.READY)
    def retry(self) -> None:
        self.retry_base = self.attempt
        self.finished_at, self.next_run_at, self.lost_attempts = None, None, 0

    @transition(field="state", source=[S.PENDING, S.READY, S.ACTIVE, S.WAITING, S.FAILED], target=S.SKIPPED)
    def skip(self, *, at: datetime) -> None:
        self.finished_at, self.next_run_at = at, None
        self._drop_lease()

    @transition(field="state", source=[S.PENDING, S.READY, S.ACTIVE, S.WAITING], target=S.CANCELLED)
    def cancel(self, *, at: datetime) -> None:
        self.finished_at, self.next_run_at = at, None
        self._drop_lease()

    def _drop_lease(self) -> None:
        self.lease_token, self.lease_expires_at = None, None


class PhaseRun(AttemptRun):
    """The run of one phase of an instance; reset to pending (with a new round) when it is reopened."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="phase_runs")
    phase_id = models.CharField(max_length=63)
    phase_type = models.CharField(max_length=16)
    position = models.PositiveIntegerField(default=0)
    round = models.PositiveIntegerField(
        default=1, help_text="1, then one more each time the phase is reopened"
    )
    # human work
    outcome = models.CharField(max_length=100, blank=True)
    data = models.JSONField(null=True, blank=True, help_text="what a person submitted")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="phase_runs"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="SLA due time")
    sla_status = models.CharField(max_length=20, choices=SlaStatus.choices, blank=True, default="")
    escalated_at = models.DateTimeField(null=True, blank=True)
    # SLA bookkeeping kept by engine.runtime.sla so its sweep stays set-based: when the phase turns at_risk
    # (from the calendar, computed once per activation), and how much of the instance's suspended time has
    # already moved due_at out.
    at_risk_at = models.DateTimeField(null=True, blank=True, help_text="when the SLA status turns at_risk")
    sla_activated_at = models.DateTimeField(
        null=True, blank=True, help_text="the activation that at_risk_at was computed for"
    )
    sla_suspension_seen = models.FloatField(
        default=0, help_text="the instance's suspended_seconds already taken into account in due_at"
    )

    class Meta:
        ordering = ["instance", "position"]
        constraints = [models.UniqueConstraint(fields=["instance", "phase_id"], name="one_run_per_phase")]
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(state="waiting"), name="phase_due_work"),
            models.Index(fields=["lease_expires_at"], condition=Q(state="active"), name="phase_leases"),
            models.Index(fields=["updated_at"], condition=Q(state="ready"), name="phase_ready"),
            models.Index(
                fields=["due_at"], condition=Q(state="active", phase_type="human"), name="phase_sla"
            ),
            models.Index(fields=["state", "phase_type"], name="phase_state_type"),
            models.Index(fields=["assignee", "state"], name="phase_assignee_state"),
            models.Index(fields=["finished_at"], name="phase_finished"),  # the dashboard's time ranges
            models.Index(fields=["phase_id"], name="phase_phase_id"),
            # the inbox: open human phases by due time, read from the index alone
            models.Index(
                fields=["due_at", "activated_at", "id"],
                condition=Q(state="active", phase_type="human"),
                include=["instance", "phase_id", "assignee"],
                name="phase_inbox",
            ),
            # the workflow list's SLA filter: the instances with a phase of a given status
            models.Index(
                fields=["sla_status", "instance"], condition=~Q(sla_status=""), name="phase_sla_instance"
            ),
            # the dashboard's and /metrics' open figures, read from the index alone: open human phases by
            # SLA status, ready automated work by type and age (the instance for a template filter)
            models.Index(
                fields=["sla_status", "instance"],
                condition=Q(state="active", phase_type="human"),
                name="phase_open_human_sla",
            ),
            models.Index(
                fields=["phase_type", "updated_at"],
                condition=Q(state="ready"),
                include=["instance"],
                name="phase_ready_type",
            ),
            # the SLA sweep settles finished phases whose status is still open: few rows among millions
            models.Index(
                fields=["sla_status"],
                condition=Q(sla_status__in=["on_schedule", "at_risk", "behind_schedule"]),
                name="phase_sla_open",
            ),
        ]
        permissions = [
            (
                "override_phaserun",
                "Can override phase runs (force-complete, skip, reassign, reopen, extend SLA)",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phase_id} ({self.state})"

    @property
    def owning_run(self) -> PhaseRun:
        """The phase run this attempt belongs to: itself (an item's is its map phase's run)."""
        return self

    @property
    def is_open_human(self) -> bool:
        """A human phase open for work: the one state people act in (claim, complete, reassign)."""
        return self.phase_type == "human" and self.state == S.ACTIVE

    @transition(field="state", source=S.COMPLETED, target=S.ACTIVE)
    def replay_items(self) -> None:
        """A completed map collects again: an item it tolerated as failed is replayed from the dead-letter
        queue, and the map completes once more (with that item's result) when the item has finished."""
        self.finished_at = None

    @transition(field="state", source=S.READY, target=S.ACTIVE)
    def open(self, *, at: datetime, due_at: datetime | None) -> None:
        """Open for work without a lease: a human phase, a map collecting its items, a timer or a signal."""
        self.activated_at, self.started_at = at, self.started_at or at
        self.due_at = due_at
        self.sla_status = SlaStatus.ON_SCHEDULE if due_at else SlaStatus.NONE

    @transition(field="state", source=S.ACTIVE, target=S.WAITING)
    def wait_event(self, *, next_run_at: datetime | None) -> None:
        """Wait for a timer (`next_run_at`) or a signal (with an optional timeout in `next_run_at`)."""
        self.next_run_at, self.sent_at = next_run_at, None

    @transition(
        field="state",
        source=[S.COMPLETED, S.SKIPPED, S.FAILED, S.CANCELLED, S.READY, S.ACTIVE, S.WAITING],
        target=S.PENDING,
    )
    def reopen(self) -> None:
        self.round += 1
        self.attempt, self.retry_base, self.lost_attempts = 0, 0, 0
        self.output = self.error = self.checkpoint = self.data = self.input_override = None
        self.outcome = ""
        self.assignee = self.completed_by = None
        self.claimed_at = self.activated_at = self.started_at = self.finished_at = None
        self.due_at = self.next_run_at = self.escalated_at = None
        self.sla_status = SlaStatus.NONE
        self._drop_lease()

    @transition(field="state", source=S.ACTIVE, target=S.COMPLETED)
    def submit(self, *, outcome: str, data: dict[str, Any], by: Any, at: datetime) -> None:
        """A person completes a human phase with an outcome and the data of its form."""
        self.outcome, self.data, self.completed_by = outcome, data, by
        self.output, self.error, self.finished_at, self.next_run_at = {}, None, at, None
        self._settle_sla(at)
        self._drop_lease()

    @transition(field="state", source=[S.READY, S.ACTIVE, S.WAITING, S.FAILED], target=S.COMPLETED)
    def force_complete(
        self, *, output: dict[str, Any], outcome: str, data: dict[str, Any] | None, by: Any, at: datetime
    ) -> None:
        """An administrator completes a phase whatever it was doing (an override, with a reason)."""
        self.output, self.outcome, self.completed_by = output, outcome, by
        if data is not None:
            self.data = data
        self.error, self.finished_at, self.next_run_at, self.lost_attempts = None, at, None, 0
        self._settle_sla(at)
        self._drop_lease()

    def _settle_sla(self, at: datetime) -> None:
        if self.due_at is not None:
            self.sla_status = SlaStatus.MET if at <= self.due_at else SlaStatus.MISSED


class ItemRun(AttemptRun):
    """One item of a `map` phase, with its own attempts, retries and checkpoint."""

    phase_run = models.ForeignKey(PhaseRun, on_delete=models.CASCADE, related_name="items")
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="item_runs")
    round = models.PositiveIntegerField(default=1)
    index = models.PositiveIntegerField()
    item = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["phase_run", "round", "index"]
        constraints = [
            models.UniqueConstraint(fields=["phase_run", "round", "index"], name="one_run_per_item"),
        ]
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(state="waiting"), name="item_due_work"),
            models.Index(fields=["lease_expires_at"], condition=Q(state="active"), name="item_leases"),
            models.Index(fields=["updated_at"], condition=Q(state="ready"), name="item_ready"),
            models.Index(fields=["phase_run", "round", "state"], name="item_phase_state"),
            # the dashboard's retries: the few items that needed more than one attempt
            models.Index(fields=["finished_at"], condition=Q(attempt__gt=1), name="item_retried_finished"),
        ]

    def __str__(self) -> str:
        return f"item {self.index} ({self.state})"

    @property
    def owning_run(self) -> PhaseRun:
        """The map phase's run this item belongs to."""
        return self.phase_run

    @transition(field="state", source=S.FAILED, target=S.PENDING)
    def requeue(self) -> None:
        """A failed item waits for its turn again (the map's `max_concurrency` still holds)."""
        self.retry_base, self.lost_attempts = self.attempt, 0
        self.finished_at = self.next_run_at = None
