"""PostgreSQL session limits, so one stuck process cannot stall the others.

- `lock_timeout`: a statement waiting this long for a row lock gives up (LockNotAvailable) instead of
  queueing behind a worker that froze inside a transaction.
- `statement_timeout`: no single query runs longer than this.
- `idle_in_transaction_session_timeout`: the server ends a session that sits inside a transaction doing
  nothing (a stopped or hung process), which releases its locks.

The idle-in-transaction limit holds for every connection (settings.py puts it in OPTIONS). The web process
and the workers add their own lock and statement limits (`apply_role`, called by config/wsgi.py,
config/asgi.py and the Celery worker's start); management commands such as `migrate` or a bulk load keep
the server's defaults for those.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections


def session_options(limits: dict[str, int]) -> str:
    """libpq `options` that set each limit (milliseconds; 0 means none) when a connection opens."""
    return " ".join(f"-c {name}={int(value)}" for name, value in limits.items())


def apply_role(role: str) -> None:
    """Give this process's PostgreSQL connections the limits of `role` ("web" or "worker")."""
    limits = {**settings.PHASEGATE_DB_LIMITS["all"], **settings.PHASEGATE_DB_LIMITS[role]}
    for alias, database in settings.DATABASES.items():
        if not database.get("ENGINE", "").endswith("postgresql"):
            continue
        # The connection objects share this dict: the next connection opened reads the new options.
        database.setdefault("OPTIONS", {})["options"] = session_options(limits)
        connections[alias].close()  # one opened by imports at start-up must not keep the old limits


# SQLSTATEs of a lock wait or a statement that ran out of time (lock_timeout, statement_timeout).
BUSY_SQLSTATES = frozenset({"55P03", "57014"})


def is_busy(exc: BaseException) -> bool:
    """Whether a database error says "too busy right now" (a timeout) rather than "broken"."""
    return getattr(exc.__cause__, "sqlstate", None) in BUSY_SQLSTATES
