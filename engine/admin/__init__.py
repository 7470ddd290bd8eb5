"""The Django admin, one module per area."""

from __future__ import annotations

from engine.admin import instances, records, templates, webhooks

__all__ = ["instances", "records", "templates", "webhooks"]
