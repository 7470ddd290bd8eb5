"""manage.py start_workflow KEY --params JSON [--business-key K] [--version N]."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine.errors import EngineError
from engine.services.instances import instance_start_or_find


class Command(BaseCommand):
    help = (
        "Start an instance of a published template (idempotent per business key while unfinished; a key a "
        "finished instance used is refused when the template never reuses keys)."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        # `--version N` picks a template version; it replaces Django's own --version (the Django release).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("key")
        parser.add_argument("--params", default="{}", help="start parameters as a JSON object")
        parser.add_argument("--business-key", dest="business_key")
        parser.add_argument("--version", type=int, dest="number")

    def handle(
        self, *args: Any, key: str, params: str, business_key: str | None, number: int | None, **o: Any
    ) -> None:
        try:
            values = json.loads(params)
        except ValueError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from None
        try:
            started = instance_start_or_find(
                template_key=key, params=values, business_key=business_key, version=number, system="cli"
            )
        except EngineError as exc:
            details = "".join(f"\n  {e['path'] or '/'}: {e['message']}" for e in exc.extra.get("errors", []))
            raise CommandError(f"{exc.message}{details}") from None
        if started.note:
            self.stderr.write(started.note)
        self.stdout.write(f"{started.instance.pk} {started.instance.state}")
