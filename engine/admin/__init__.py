"""The Django admin, one module per area."""

from __future__ import annotations

from engine.admin import instances, records, schedules, templates, webhooks

__all__ = ["instances", "records", "schedules", "templates", "webhooks"]
