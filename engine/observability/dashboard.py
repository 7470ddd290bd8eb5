"""/dashboard/: the operators' figures as charts with a table beside each (staff or engine.view_dashboard)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from engine.models import SlaStatus, WorkflowTemplate
from engine.observability import figures
from engine.observability.access import may_see_dashboard

# The figures' SLA keys in the inbox's words ("none" is the figures' key for phases without an SLA).
SLA_WORDS = {**{status.value: str(status.label) for status in SlaStatus}, "none": str(SlaStatus.NONE.label)}


def seconds_text(value: float | None) -> str:
    """A duration a person reads at a glance: 185 ms, 45 s, 12 min, 3.5 h, 2.1 d."""
    if value is None:
        return "never"
    if value <= 0:
        return "0 s"
    if round(value * 1000) < 1000:  # automated phases often take milliseconds: "0.0 s" said nothing
        return f"{round(value * 1000)} ms"
    if value < 60:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    if value < 600:
        minutes, rest = divmod(round(value), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if value < 3600:
        return f"{value / 60:.0f} min"
    if value < 86400:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    if not may_see_dashboard(request.user):
        raise PermissionDenied("the dashboard needs staff status or the engine.view_dashboard permission")
    now = timezone.now()
    range_name = request.GET.get("range") or figures.DEFAULT_RANGE
    template_key = request.GET.get("template") or None
    problem = ""
    try:
        scope = figures.Scope.parse(range_name=range_name, template_key=template_key, now=now)
    except figures.FigureError as exc:
        problem = str(exc)
        scope = figures.Scope.parse(range_name=None, template_key=None, now=now)
    data = figures.dashboard(scope, now=now)
    context: dict[str, Any] = {
        "data": data,
        "problem": problem,
        "ranges": list(figures.RANGES),
        "templates": list(WorkflowTemplate.objects.order_by("key").values_list("key", "name")),
        "selected": {"range": scope.range_name, "template": scope.template.key if scope.template else ""},
        "tiles": tiles(data),
        "lags": {
            "queue": seconds_text(data["queue"]["oldest_seconds"]),
            "oldest_expired": seconds_text(data["reaper"]["oldest_seconds"]),
        },
        "sweeps": [(name, seconds_text(age)) for name, age in data["sweeps_last_run_seconds_ago"].items()],
        "sla_rows": [
            (SLA_WORDS.get(status, status), count)
            for status, count in data["open_human_phases_by_sla"].items()
        ],
        "durations": [
            {**row, "p50_text": seconds_text(row["p50"]), "p95_text": seconds_text(row["p95"])}
            for row in data["phase_durations"]
        ],
    }
    return render(request, "observability/dashboard.html", context)


def tiles(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The numbers at the top: what needs a person now."""
    states = data["instances_by_state"]
    sla = data["open_human_phases_by_sla"]
    return [
        {"label": "Running instances", "value": states.get("running", 0), "tone": ""},
        {"label": "Failed in range", "value": states.get("failed", 0),
         "tone": "bad" if states.get("failed") else ""},
        {"label": "Open dead letters", "value": sum(data["dead_letters_open"].values()),
         "tone": "bad" if data["dead_letters_open"] else ""},
        {"label": "Human phases behind schedule", "value": sla.get("behind_schedule", 0),
         "tone": "bad" if sla.get("behind_schedule") else ""},
        {"label": "Retries in range", "value": data["retries"]["total"], "tone": ""},
        {"label": "Queue lag", "value": seconds_text(data["queue"]["oldest_seconds"]),
         "tone": "warn" if data["queue"]["oldest_seconds"] > 60 else ""},
        {"label": "Expired leases", "value": data["reaper"]["count"],
         "tone": "warn" if data["reaper"]["count"] else ""},
    ]  # fmt: skip
