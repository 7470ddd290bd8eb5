"""The states of everything the engine moves, as in DESIGN.md."""

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


UNFINISHED_INSTANCE_STATES = (InstanceState.CREATED, InstanceState.RUNNING, InstanceState.SUSPENDED)


class PhaseState(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    ACTIVE = "active", "Active"
    WAITING = "waiting", "Waiting"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


OPEN_PHASE_STATES = (PhaseState.READY, PhaseState.ACTIVE, PhaseState.WAITING)
FINISHED_PHASE_STATES = (PhaseState.COMPLETED, PhaseState.FAILED, PhaseState.SKIPPED, PhaseState.CANCELLED)


class SlaStatus(models.TextChoices):
    NONE = "", "No SLA"
    ON_SCHEDULE = "on_schedule", "On schedule"
    AT_RISK = "at_risk", "At risk"
    BEHIND_SCHEDULE = "behind_schedule", "Behind schedule"
    MET = "met", "Met"
    MISSED = "missed", "Missed"


class DeadLetterState(models.TextChoices):
    OPEN = "open", "Open"
    RETRIED = "retried", "Retried"
    DISCARDED = "discarded", "Discarded"
