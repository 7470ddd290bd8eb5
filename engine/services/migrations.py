"""Migrating running instances to another version of their template (`engine.access.require_migrate`,
a reason, each instance in its own transaction); the work is the runtime's."""

from __future__ import annotations

from engine.runtime.migration import MigrationReport, instances_migrate, target_version

__all__ = ["MigrationReport", "instances_migrate", "target_version"]
