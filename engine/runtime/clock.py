"""The database's clock. Due times are written and compared with it, so workers with skewed clocks agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import connection


def db_now(row: Any = None) -> datetime:
    """The current time as the database sees it, aware and in UTC.

    A row read with `.annotate(db_now=Now())` already carries it, which saves a query on the hot path.
    """
    if row is not None and getattr(row, "db_now", None) is not None:
        return row.db_now
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            value = cursor.fetchone()[0]
        else:
            cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
            value = datetime.fromisoformat(cursor.fetchone()[0])
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
