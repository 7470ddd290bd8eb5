"""manage.py export_template KEY [--version N] [--output FILE]: write a version's JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine.errors import NotFound
from engine.services.templates import template_export


class Command(BaseCommand):
    help = "Write a template version's definition as JSON (the latest published one by default)."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        # `--version N` picks a template version; it replaces Django's own --version (the Django release).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("key")
        parser.add_argument("--version", type=int, dest="number", help="version number")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args: Any, key: str, number: int | None, output: str | None, **options: Any) -> None:
        try:
            document = template_export(key=key, number=number)
        except NotFound as exc:
            raise CommandError(exc.message) from None
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
