"""manage.py load_templates [DIR|FILE …] [--publish]: load template JSON files as new versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from engine.errors import TemplateInvalid
from engine.services.templates import template_load


class Command(BaseCommand):
    help = (
        "Load every *.json template in the given folders or files; a new version only when content changed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="*", help="folders or files (default: fixtures/templates)")
        parser.add_argument("--publish", action="store_true", help="publish what was loaded")

    def handle(self, *args: Any, paths: list[str], publish: bool, **options: Any) -> None:
        files = sorted(self._files(paths or [str(Path(settings.BASE_DIR) / "fixtures" / "templates")]))
        if not files:
            raise CommandError("no template files found")
        failed = 0
        for path in files:
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                loaded = template_load(document=document, publish=publish)
            except (OSError, ValueError) as exc:
                failed += 1
                self.stderr.write(f"{path}: cannot read: {exc}")
                continue
            except TemplateInvalid as exc:
                failed += 1
                for problem in exc.problems:
                    self.stderr.write(f"{path}:{problem.path}: {problem.code}: {problem.message}")
                continue
            version = loaded.version
            what = "new version" if loaded.created else "unchanged"
            state = "published now" if loaded.published else version.state
            self.stdout.write(f"{path}: {version.template.key} v{version.number} ({what}, {state})")
        if failed:
            raise CommandError(f"{failed} file(s) not loaded")

    @staticmethod
    def _files(paths: list[str]) -> list[Path]:
        found: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                found.extend(path.glob("*.json"))
            elif path.exists():
                found.append(path)
            else:
                raise CommandError(f"{raw}: no such file or folder")
        return found
