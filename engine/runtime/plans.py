"""Compiled plans per template version, cached per process: a published definition never changes."""

from __future__ import annotations

import threading

from engine.definition.compiler import compile_template
from engine.definition.plan import Plan
from engine.definition.problems import DocumentInvalid
from engine.errors import TemplateInvalid
from engine.models import TemplateVersion

_cache: dict[tuple[int, str], Plan] = {}
_lock = threading.Lock()
_MAX = 512


def plan_for(version: TemplateVersion) -> Plan:
    """The plan of a version; keyed by checksum too, so a draft that changed is compiled again."""
    key = (version.pk, version.checksum)
    plan = _cache.get(key)
    if plan is None:
        try:
            plan = compile_template(_definition(version))
        except DocumentInvalid as exc:
            raise TemplateInvalid(exc.problems) from None
        with _lock:
            if len(_cache) >= _MAX:
                _cache.clear()
            _cache[key] = plan
    return plan


def cached_plan(version_id: int, checksum: str) -> Plan | None:
    """The plan of that version if this process has compiled it already (no query)."""
    return _cache.get((version_id, checksum))


def _definition(version: TemplateVersion) -> dict:
    """The definition, read on its own when the row was loaded without it (the hot path defers it).

    Not through the deferred field's own loading: django-fsm's refresh_from_db lifts the protection of
    state fields for every thread of the process while it runs.
    """
    if "definition" in version.get_deferred_fields():
        return TemplateVersion.objects.values_list("definition", flat=True).get(pk=version.pk)
    return version.definition
