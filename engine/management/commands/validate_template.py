"""manage.py validate_template FILE…: print every problem of each template file; exit 1 if there is any."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Validate workflow template files against the schema, the semantic rules and the registered "
        "activities. Prints FILE:/json/pointer: code: message per problem; prints nothing when all are valid."
    )
    # A file check for editors and CI: it must not fail on unrelated deployment settings.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="template JSON files")

    def handle(self, *args: Any, files: list[str], **options: Any) -> None:
        from engine.activities import activity_names
        from engine.definition.validation import validate

        activities = activity_names()
        invalid = 0
        for name in files:
            try:
                data = Path(name).read_bytes()
            except OSError as exc:
                invalid += 1
                self.stdout.write(f"{name}:: unreadable: {exc.strerror or exc}")
                continue
            # validate() takes the raw bytes so that its size limit applies before anything is parsed.
            problems = validate(data, activities=activities)
            invalid += bool(problems)
            for problem in problems:
                self.stdout.write(f"{name}:{problem.path}: {problem.code}: {problem.message}")
        if invalid:
            raise CommandError(f"{invalid} of {len(files)} file(s) invalid", returncode=1)
