"""Logging filters: a refused request is one line, not a traceback nor the same line twice."""

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


class ClientErrorsLoggedElsewhere(logging.Filter):
    """For runserver's access log (django.server): leave out 4xx lines.

    django.request logs every response of 400 or more with its reason ("Forbidden (Permission denied):
    /dashboard/"), so runserver's line for the same 403 would be the second line of one refusal.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        return not (isinstance(status, int) and 400 <= status < 500)
