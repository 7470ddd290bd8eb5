"""Django's PostgreSQL backend, with a health check that asks the socket before it asks the server.

With CONN_HEALTH_CHECKS, Django checks a kept connection before each request (and each worker task:
config/celery.py) reuses it, by running `SELECT 1`: one round trip more for every request and every step.
A server that goes away (restart, shutdown, `pg_terminate_backend`) tells the client first: it sends a FATAL
error and closes the socket. An idle connection's socket with nothing to read is therefore usable; one with
something to read gets Django's own check, which reads it (a notice is harmless, the end is not). A
connection lost without a word (a silent network partition) passes either check alike and fails on use.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        raw = self.connection
        if raw is None or raw.closed or raw.broken:
            return False
        if raw.pgconn.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()
        try:
            readable, _, _ = select.select([raw.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return super().is_usable() if readable else True
