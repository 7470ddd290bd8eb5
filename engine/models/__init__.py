"""Storage: what the engine knows and what happened."""

from __future__ import annotations

from engine.models.compensations import CompensationRun
from engine.models.heartbeats import SweepHeartbeat
from engine.models.instances import ItemRun, PhaseRun, WorkflowInstance
from engine.models.records import Comment, DeadLetter, Event, GateResult, RoleAssignment, Transition
from engine.models.rollups import CountedHour, Figure, HourlyCount
from engine.models.schedules import OverlapPolicy, Schedule, ScheduleRun, ScheduleRunOutcome
from engine.models.signals import Signal, SignalState
from engine.models.states import (
    DONE_PHASE_STATES,
    FINISHED_INSTANCE_STATES,
    FINISHED_PHASE_STATES,
    OPEN_PHASE_STATES,
    OPEN_SLA_STATUSES,
    SLA_ORDER,
    SLA_RANK,
    STANDING_PHASE_STATES,
    UNFINISHED_INSTANCE_STATES,
    UNFINISHED_PHASE_STATES,
    DeadLetterState,
    InstanceState,
    PhaseState,
    SlaStatus,
    VersionState,
)
from engine.models.templates import TemplateVersion, VersionChange, WorkflowTemplate
from engine.models.webhooks import DeliveryState, Webhook, WebhookDelivery

__all__ = [
    "DONE_PHASE_STATES",
    "FINISHED_INSTANCE_STATES",
    "FINISHED_PHASE_STATES",
    "OPEN_PHASE_STATES",
    "STANDING_PHASE_STATES",
    "OPEN_SLA_STATUSES",
    "SLA_ORDER",
    "SLA_RANK",
    "UNFINISHED_INSTANCE_STATES",
    "UNFINISHED_PHASE_STATES",
    "Comment",
    "CountedHour",
    "CompensationRun",
    "DeadLetter",
    "DeadLetterState",
    "DeliveryState",
    "Event",
    "Figure",
    "GateResult",
    "HourlyCount",
    "InstanceState",
    "ItemRun",
    "PhaseRun",
    "PhaseState",
    "OverlapPolicy",
    "RoleAssignment",
    "Schedule",
    "ScheduleRun",
    "ScheduleRunOutcome",
    "Signal",
    "SignalState",
    "SlaStatus",
    "SweepHeartbeat",
    "TemplateVersion",
    "Transition",
    "VersionChange",
    "VersionState",
    "Webhook",
    "WebhookDelivery",
    "WorkflowInstance",
    "WorkflowTemplate",
]
