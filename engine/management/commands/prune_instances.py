"""manage.py prune_instances --finished-before P180D [--dry-run] [--archive FILE] [--delete-audit-trail]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine.definition.durations import DurationError, parse_duration
from engine.models.states import FINISHED_INSTANCE_STATES
from engine.services.retention import INSTANCE_BATCH, instances_prune, open_archive


class Command(BaseCommand):
    help = (
        "Delete finished instances (completed, failed, cancelled) that ended before an age, in batches, "
        "with their phase runs, items, events and comments. The audit trail stays unless "
        "--delete-audit-trail; --archive writes each instance first (JSON lines, gzip for .gz); --dry-run "
        "only counts."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--finished-before",
            required=True,
            help="an ISO 8601 age, e.g. P180D: instances that ended earlier",
        )
        parser.add_argument(
            "--state", action="append", choices=list(FINISHED_INSTANCE_STATES), help="only these (repeatable)"
        )
        parser.add_argument("--template", default="", help="only instances of this template key")
        parser.add_argument("--batch", type=int, default=INSTANCE_BATCH, help="instances per transaction")
        parser.add_argument("--limit", type=int, default=None, help="stop after this many instances")
        parser.add_argument("--archive", type=Path, default=None, help="append each instance here first")
        parser.add_argument("--delete-audit-trail", action="store_true", help="delete their audit rows too")
        parser.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            age = parse_duration(options["finished_before"])
        except DurationError as exc:
            raise CommandError(f"--finished-before: {exc}") from exc
        if options["batch"] < 1 or (options["limit"] is not None and options["limit"] < 1):
            raise CommandError("--batch and --limit must be positive")
        archive = open_archive(options["archive"]) if options["archive"] and not options["dry_run"] else None
        try:
            report = instances_prune(
                finished_before=age,
                states=options["state"],
                template=options["template"],
                dry_run=options["dry_run"],
                delete_audit_trail=options["delete_audit_trail"],
                archive=archive,
                batch=options["batch"],
                limit=options["limit"],
            )
        finally:
            if archive is not None:
                archive.close()
        verb = "would delete" if options["dry_run"] else "deleted"
        trail = "deleted" if not report.audit_kept else "kept"
        if options["dry_run"]:
            trail = "would be " + trail
        templates = ", ".join(sorted(report.template_keys)) or "none"
        self.stdout.write(
            f"{verb} {report.instances} finished instance(s) of {templates} in {report.batches} batch(es): "
            f"{report.phase_runs} phase run(s), {report.events} outbox event(s); "
            f"{report.audit_rows} audit row(s) {trail}"
            + (f"; archived to {options['archive']}" if archive is not None else "")
        )
