"""manage.py load_schedules FILE [--paused]: create or update schedules from a JSON list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine.errors import ScheduleInvalid
from engine.models import Schedule, WorkflowTemplate
from engine.services.schedules import schedule_save, schedule_upcoming


class Command(BaseCommand):
    help = "Create or update the schedules listed in a JSON file (the examples: fixtures/schedules.json)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help="a JSON list of schedules")
        parser.add_argument("--paused", action="store_true", help="create them paused")

    def handle(self, *args: Any, path: str, paused: bool, **options: Any) -> None:
        source = Path(path)
        try:
            entries = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{source}: cannot read: {exc}") from None
        if not isinstance(entries, list):
            raise CommandError(f"{source}: expected a JSON list of schedules")
        for entry in entries:
            self._load(entry, paused=paused)

    def _load(self, entry: dict[str, Any], *, paused: bool) -> None:
        template = WorkflowTemplate.objects.filter(key=entry.get("template")).first()
        if template is None:
            raise CommandError(f"schedule {entry.get('name')!r}: no template {entry.get('template')!r}")
        schedule = Schedule.objects.filter(name=entry["name"]).first() or Schedule(name=entry["name"])
        schedule.template = template
        defaults = Schedule()
        for field in Schedule.TIMING_FIELDS:
            setattr(schedule, field, entry.get(field, getattr(defaults, field)))
        schedule.paused = paused or schedule.paused
        try:
            schedule_save(schedule=schedule)
        except ScheduleInvalid as exc:
            raise CommandError(f"schedule {schedule.name!r}: {exc.message}") from None
        upcoming = ", ".join(f"{tick:%Y-%m-%d %H:%M} UTC" for tick in schedule_upcoming(schedule, 3))
        self.stdout.write(f"schedule {schedule.name}: {template.key}, next {upcoming or '(paused)'}")
