"""Comparing two template documents: an RFC 6902 JSON Patch and a summary a person can read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch


@dataclass(frozen=True)
class TemplateDiff:
    """What changed from `old` to `new`."""

    patch: list[dict[str, Any]]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # phase id -> changed field names
    top_level: list[str] = field(default_factory=list)  # changed top-level fields other than phases

    @property
    def is_empty(self) -> bool:
        return not self.patch

    def as_dict(self) -> dict[str, Any]:
        return {
            "patch": self.patch,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "top_level": self.top_level,
        }


def _phases_by_id(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    phases = document.get("phases") if isinstance(document, Mapping) else None
    if not isinstance(phases, list):
        return {}
    return {p["id"]: p for p in phases if isinstance(p, Mapping) and isinstance(p.get("id"), str)}


def diff_templates(old: Mapping[str, Any], new: Mapping[str, Any]) -> TemplateDiff:
    """Diff two documents; phases are matched by id, so reordering the list is not a change of a phase."""
    patch = jsonpatch.make_patch(old, new).patch
    before, after = _phases_by_id(old), _phases_by_id(new)
    added = [pid for pid in after if pid not in before]
    removed = [pid for pid in before if pid not in after]
    changed: dict[str, list[str]] = {}
    for pid in after:
        if pid in before and before[pid] != after[pid]:
            keys = sorted(set(before[pid]) | set(after[pid]))
            changed[pid] = [key for key in keys if before[pid].get(key) != after[pid].get(key)]
    both_objects = isinstance(old, Mapping) and isinstance(new, Mapping)
    keys = sorted((set(old) | set(new)) - {"phases"}) if both_objects else []
    top_level = [key for key in keys if old.get(key) != new.get(key)]
    return TemplateDiff(patch=patch, added=added, removed=removed, changed=changed, top_level=top_level)
