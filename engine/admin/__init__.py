"""The Django admin, one module per area."""

from __future__ import annotations

from engine.admin import incidents, instances, records, roles, schedules, templates, webhooks

__all__ = ["incidents", "instances", "records", "roles", "schedules", "templates", "webhooks"]
