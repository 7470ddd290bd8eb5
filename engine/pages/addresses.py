"""The pages' addresses from one `reverse()` each per page view, not one per row and link.

A list of 50 inbox rows links each row three times, a progress page 200 times: `reverse()` costs tens of
microseconds a call, a formatted string almost nothing. The patterns come from `reverse()` itself, so the
URLconf stays the one place the addresses are defined.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from django.urls import reverse

SAMPLE_INSTANCE = uuid.UUID(int=0)
SAMPLE_PHASE = "phase-id-sample"


def _pattern(name: str, *, phase: bool) -> str:
    kwargs: dict[str, Any] = {"instance_id": SAMPLE_INSTANCE}
    if phase:
        kwargs["phase_id"] = SAMPLE_PHASE
    path = reverse(name, kwargs=kwargs).replace("{", "{{").replace("}", "}}")
    return path.replace(str(SAMPLE_INSTANCE), "{instance}").replace(SAMPLE_PHASE, "{phase}")


class Addresses:
    """`phase(instance_id, phase_id)`, `claim(…)` and `workflow(instance_id)` for one page view."""

    def __init__(self) -> None:
        self._phase = _pattern("pages:phase_detail", phase=True)
        self._claim = _pattern("pages:phase_claim", phase=True)
        self._workflow = _pattern("pages:workflow_detail", phase=False)

    def phase(self, instance_id: Any, phase_id: str) -> str:
        return self._phase.format(instance=instance_id, phase=quote(phase_id, safe=""))

    def claim(self, instance_id: Any, phase_id: str) -> str:
        return self._claim.format(instance=instance_id, phase=quote(phase_id, safe=""))

    def workflow(self, instance_id: Any) -> str:
        return self._workflow.format(instance=instance_id)
