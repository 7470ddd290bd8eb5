"""Storage: what the engine knows and what happened."""

from __future__ import annotations

from engine.models.heartbeats import SweepHeartbeat
from engine.models.instances import ItemRun, PhaseRun, WorkflowInstance
from engine.models.records import Comment, DeadLetter, Event, GateResult, RoleAssignment, Transition
from engine.models.schedules import OverlapPolicy, Schedule, ScheduleRun, ScheduleRunOutcome
from engine.models.states import (
    DeadLetterState,
    InstanceState,
    PhaseState,
    SlaStatus,
    VersionState,
)
from engine.models.templates import TemplateVersion, WorkflowTemplate
from engine.models.webhooks import DeliveryState, Webhook, WebhookDelivery

__all__ = [
    "Comment",
    "DeadLetter",
    "DeadLetterState",
    "DeliveryState",
    "Event",
    "GateResult",
    "InstanceState",
    "ItemRun",
    "PhaseRun",
    "PhaseState",
    "OverlapPolicy",
    "RoleAssignment",
    "Schedule",
    "ScheduleRun",
    "ScheduleRunOutcome",
    "SlaStatus",
    "SweepHeartbeat",
    "TemplateVersion",
    "Transition",
    "VersionState",
    "Webhook",
    "WebhookDelivery",
    "WorkflowInstance",
    "WorkflowTemplate",
]
