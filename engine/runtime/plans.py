"""Compiled plans per template version, cached per process: a published definition never changes."""

from __future__ import annotations

import threading

from engine.definition.compiler import compile_template
from engine.definition.plan import Plan
from engine.models import TemplateVersion

_cache: dict[tuple[int, str], Plan] = {}
_lock = threading.Lock()
_MAX = 512


def plan_for(version: TemplateVersion) -> Plan:
    """The plan of a version; keyed by checksum too, so a draft that changed is compiled again."""
    key = (version.pk, version.checksum)
    plan = _cache.get(key)
    if plan is None:
        plan = compile_template(version.definition)
        with _lock:
            if len(_cache) >= _MAX:
                _cache.clear()
            _cache[key] = plan
    return plan
