"""Valid template documents for the definition tests; every call returns a fresh copy to mutate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "templates"
ACTIVITIES = frozenset({"unit.ingest", "unit.process", "unit.check"})


def base_document() -> dict[str, Any]:
    """A small template that uses every phase type and every top-level field."""
    return {
        "format": "phasegate/v1",
        "key": "unit.base",
        "name": "Base",
        "description": "Every phase type once.",
        "params": {"type": "object", "properties": {"report_id": {"type": "integer"}}},
        "roles": {"analyst": {"name": "Analyst"}, "lead": {"name": "Lead"}},
        "calendar": {"timezone": "America/New_York", "workdays": [1, 2, 3, 4, 5], "holidays": ["2026-12-25"]},
        "defaults": {
            "retry": {"max_attempts": 4, "initial_interval": "PT10S", "max_interval": "PT5M"},
            "timeout": "PT1H",
            "sla": {"duration": "P2D", "escalate_to": ["lead"]},
        },
        "phases": [
            {
                "id": "intake",
                "type": "human",
                "roles": ["analyst"],
                "form": {"type": "object", "properties": {"note": {"type": "string"}}},
            },
            {
                "id": "review",
                "type": "human",
                "depends_on": ["intake"],
                "roles": ["lead"],
                "outcomes": ["approved", "rework"],
                "on_outcome": {"rework": {"reopen": "intake"}},
                "sla": {"duration": "P1D", "business_days": True, "at_risk": 0.5, "escalate_to": ["lead"]},
            },
            {
                "id": "ingest",
                "type": "task",
                "depends_on": ["review"],
                "activity": "unit.ingest",
                "input": {"report": "params.report_id"},
                "retry": {"max_attempts": 5},
                "timeout": "PT30M",
                "heartbeat": "PT1M",
            },
            {
                "id": "quality",
                "type": "gate",
                "depends_on": ["ingest"],
                "check": "steps.ingest.output.rows > 0",
                "message": "no rows",
                "action": "RETRY_INGESTION",
            },
            {
                "id": "route",
                "type": "choice",
                "depends_on": ["quality"],
                "choices": [{"when": "steps.ingest.output.rows > 100", "then": ["fan_out"]}],
                "otherwise": ["pause"],
            },
            {
                "id": "fan_out",
                "type": "map",
                "depends_on": ["route"],
                "items": "steps.ingest.output.batches",
                "activity": "unit.process",
                "input": {"batch": "item"},
                "max_concurrency": 4,
                "tolerated_failure": 0.1,
            },
            {"id": "pause", "type": "wait", "depends_on": ["route"], "signal": "resume", "timeout": "P1D"},
            {"id": "settle", "type": "wait", "depends_on": ["fan_out", "pause"], "duration": "PT1H"},
        ],
    }


def minimal_document(*phases: dict[str, Any]) -> dict[str, Any]:
    """Only the required top-level fields, around the given phases."""
    return {"format": "phasegate/v1", "key": "unit.minimal", "name": "Minimal", "phases": list(phases)}


def fixture_documents() -> list[tuple[str, dict[str, Any]]]:
    """The golden templates in fixtures/templates, read now (they may change while we work)."""
    return [
        (path.stem, json.loads(path.read_text(encoding="utf-8"))) for path in sorted(FIXTURES.glob("*.json"))
    ]
