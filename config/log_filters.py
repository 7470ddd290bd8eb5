"""Logging filters: a refused request is one line, not a traceback."""

from __future__ import annotations

import logging


class ClientErrorsOnOneLine(logging.Filter):
    """django.request logs a 403 or 404 with the exception's traceback; a client's mistake needs one line.

    Server errors (5xx) keep their traceback: that is where it helps.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
