"""Schedules: save (checked), pause, resume, the next run times. Who may is the API's and the admin's model
permissions on Schedule; the work is the runtime's."""

from __future__ import annotations

from engine.runtime.schedules import (
    schedule_check,
    schedule_pause,
    schedule_resume,
    schedule_save,
    schedule_upcoming,
)

__all__ = ["schedule_check", "schedule_pause", "schedule_resume", "schedule_save", "schedule_upcoming"]
