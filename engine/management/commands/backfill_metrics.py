"""manage.py backfill_metrics [--since 2026-01-01] [--batch 24] [--recount]."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine.services.figures import BACKFILL_BATCH, figures_backfill, figures_recount


class Command(BaseCommand):
    help = (
        "Count the dashboard's closed hours that were never counted (after a first deploy, or a time beat "
        "was down), newest first, a batch of hours at a time; beat does the same a batch per run. "
        "--recount counts every hour from --since again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--since", default="", help="an ISO date or time (UTC); default: the first instance"
        )
        parser.add_argument("--batch", type=int, default=BACKFILL_BATCH, help="hours per batch")
        parser.add_argument("--recount", action="store_true", help="count hours already counted again")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["since"]:
            try:
                since = datetime.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(f"--since: {exc}") from exc
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
        if options["batch"] < 1:
            raise CommandError("--batch must be positive")
        if options["recount"] and since is None:
            raise CommandError("--recount needs --since")
        batches = (
            figures_recount(since=since, batch=options["batch"])
            if options["recount"] and since is not None
            else figures_backfill(since=since, batch=options["batch"])
        )
        total = 0
        for hours in batches:
            total += len(hours)
            self.stdout.write(
                f"counted {len(hours)} hours back to {min(hours):%Y-%m-%d %H}:00 ({total} in all)"
            )
        self.stdout.write(self.style.SUCCESS(f"{total} hours counted"))
