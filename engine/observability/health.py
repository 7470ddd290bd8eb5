"""Liveness and readiness: is the process up; can it reach the database and the broker; does beat run."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        return {"ok": False, "message": f"database unreachable ({type(exc).__name__})"}
    return {"ok": True, "message": "reachable"}


def check_broker(url: str | None = None) -> dict[str, Any]:
    from config.celery import app

    try:
        with app.connection_for_write(url) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        # The broker URL may hold a password: the log and the answer name only the error's type.
        logger.warning("readiness: broker unreachable (%s)", type(exc).__name__)
        return {"ok": False, "message": f"broker unreachable ({type(exc).__name__})"}
    return {"ok": True, "message": "reachable"}


def check_beat() -> dict[str, Any]:
    """The due-work sweep (sent by beat every 2 seconds, run by a worker) finished recently."""
    from engine.models import SweepHeartbeat

    limit = settings.PHASEGATE_METRICS["BEAT_MAX_AGE_SECONDS"]
    if limit <= 0:
        return {"ok": True, "message": "not checked (PHASEGATE_BEAT_MAX_AGE_SECONDS=0)"}
    try:
        beat = SweepHeartbeat.objects.filter(name="due_work").first()
    except Exception as exc:
        return {"ok": False, "message": f"cannot read the sweep heartbeat ({type(exc).__name__})"}
    if beat is None:
        return {"ok": False, "message": "the due-work sweep has never run: is celery beat running?"}
    age = (timezone.now() - beat.last_run_at).total_seconds()
    if age > limit:
        return {"ok": False, "message": f"the due-work sweep last ran {age:.0f} s ago (limit {limit} s)"}
    return {"ok": True, "message": f"the due-work sweep ran {age:.0f} s ago"}


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    checks = {"database": check_database(), "broker": check_broker(), "beat": check_beat()}
    return all(check["ok"] for check in checks.values()), checks
