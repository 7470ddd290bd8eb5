"""The states of everything the engine moves, as in DESIGN.md, and the one set of names for their groups.

Code asks "is it open?", "is it finished?" with these groups, never with its own tuple of states.
"""

from __future__ import annotations

from django.db import models


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class InstanceState(models.TextChoices):
    CREATED = "created", "Created"
    RUNNING = "running", "Running"
    SUSPENDED = "suspended", "Suspended"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Unfinished: it may still move by itself or be resumed. Finished: only an override (retry) moves it again.
UNFINISHED_INSTANCE_STATES = (InstanceState.CREATED, InstanceState.RUNNING, InstanceState.SUSPENDED)
FINISHED_INSTANCE_STATES = (InstanceState.COMPLETED, InstanceState.FAILED, InstanceState.CANCELLED)


class PhaseState(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    ACTIVE = "active", "Active"
    WAITING = "waiting", "Waiting"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


# Open: started and not finished (a worker, a person or a timer has it). Unfinished: open, or not started
# yet. Finished: it will not move again by itself. Done: finished in a way that lets its successors run.
OPEN_PHASE_STATES = (PhaseState.READY, PhaseState.ACTIVE, PhaseState.WAITING)
UNFINISHED_PHASE_STATES = (PhaseState.PENDING, *OPEN_PHASE_STATES)
FINISHED_PHASE_STATES = (PhaseState.COMPLETED, PhaseState.FAILED, PhaseState.SKIPPED, PhaseState.CANCELLED)
DONE_PHASE_STATES = (PhaseState.COMPLETED, PhaseState.SKIPPED)
# No SLA runs for a phase that was never worked: a due time or status it kept from before means nothing.
SLA_VOID_PHASE_STATES = (PhaseState.SKIPPED, PhaseState.CANCELLED)
# Where an instance stands: a long instance's phase table opens on the page of its first such phase.
STANDING_PHASE_STATES = (PhaseState.FAILED, *OPEN_PHASE_STATES)


class SlaStatus(models.TextChoices):
    NONE = "", "No SLA"
    ON_SCHEDULE = "on_schedule", "On schedule"
    AT_RISK = "at_risk", "At risk"
    BEHIND_SCHEDULE = "behind_schedule", "Behind schedule"
    MET = "met", "Met"
    MISSED = "missed", "Missed"


# The one ordering of SLA statuses, from no SLA to the worst: lists sort and filter by it, the sweep only
# moves a phase's status up it (an extension may move it back down).
SLA_ORDER = (
    SlaStatus.NONE,
    SlaStatus.MET,
    SlaStatus.ON_SCHEDULE,
    SlaStatus.AT_RISK,
    SlaStatus.BEHIND_SCHEDULE,
    SlaStatus.MISSED,
)
SLA_RANK: dict[str, int] = {status: rank for rank, status in enumerate(SLA_ORDER)}
OPEN_SLA_STATUSES = (SlaStatus.ON_SCHEDULE, SlaStatus.AT_RISK, SlaStatus.BEHIND_SCHEDULE)


class DeadLetterState(models.TextChoices):
    OPEN = "open", "Open"
    RETRIED = "retried", "Retried"
    DISCARDED = "discarded", "Discarded"
