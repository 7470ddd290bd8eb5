"""manage.py load_templates [DIR|FILE …] [--publish]: load template JSON files as new versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine.definition.composition import calls
from engine.errors import TemplateInvalid
from engine.services.templates import template_load


class Command(BaseCommand):
    help = (
        "Load every *.json template in the given folders or files; a new version only when content changed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", help="folders or files of template JSON")
        parser.add_argument("--publish", action="store_true", help="publish what was loaded")

    def handle(self, *args: Any, paths: list[str], publish: bool, **options: Any) -> None:
        files = sorted(self._files(paths))
        if not files:
            raise CommandError("no template files found")
        failed = 0
        documents: dict[Path, Any] = {}
        for path in files:
            try:
                documents[path] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                failed += 1
                self.stderr.write(f"{path}: cannot read: {exc}")
        for path in callees_first(documents):
            try:
                loaded = template_load(document=documents[path], publish=publish)
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


def callees_first(documents: dict[Path, Any]) -> list[Path]:
    """The files in name order, except that a template another one calls as a sub-workflow comes first,
    so that publishing the caller finds it published."""
    by_key = {doc.get("key"): path for path, doc in documents.items() if isinstance(doc, dict)}
    ordered: list[Path] = []
    visiting: set[Path] = set()

    def visit(path: Path) -> None:
        if path in ordered or path in visiting:  # a cycle is reported by validation
            return
        visiting.add(path)
        for key in calls(documents[path]):
            if key in by_key:
                visit(by_key[key])
        visiting.discard(path)
        ordered.append(path)

    for path in sorted(documents):
        visit(path)
    return ordered
