"""How long a worker holds an attempt before the reaper presumes it lost."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from engine.definition.plan import PhasePlan

# Past the attempt's own timeout, so that an activity stopped by its time limit can still report.
LEASE_GRACE = timedelta(seconds=15)


def lease_for(spec: PhasePlan) -> timedelta:
    if spec.heartbeat:
        return spec.heartbeat
    if spec.timeout:
        return spec.timeout + LEASE_GRACE
    return timedelta(seconds=settings.PHASEGATE["DEFAULT_LEASE_SECONDS"])
