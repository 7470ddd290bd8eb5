"""`{% if run|sla_void %}`: the pages' one test for "no SLA runs for this phase" (its DUE and SLA cells)."""

from __future__ import annotations

from typing import Any

from django import template

from engine.models.states import SLA_VOID_PHASE_STATES

register = template.Library()


@register.filter
def sla_void(run: Any) -> bool:
    """A skipped or cancelled phase shows no due time and no SLA status, whatever it kept from before."""
    return run.state in SLA_VOID_PHASE_STATES
