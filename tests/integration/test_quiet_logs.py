"""A refused request is logged on one line; a server error keeps its traceback."""

from __future__ import annotations

import io
import logging

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_403_is_one_line_without_a_traceback(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    client.force_login(UserFactory(username="plain"))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/dashboard/").status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage().startswith("Forbidden")
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_the_filter_leaves_server_errors_alone() -> None:
    from config.log_filters import ClientErrorsOnOneLine

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        info = sys.exc_info()
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error", (), info
    )
    record.status_code = 500
    assert ClientErrorsOnOneLine().filter(record) and record.exc_info is info
    record.status_code = 404
    assert ClientErrorsOnOneLine().filter(record) and record.exc_info is None


def _streams_of(name: str) -> list[logging.StreamHandler]:
    """The stream handlers a record of `name` reaches: its own, then its parents' while it propagates."""
    found, logger = [], logging.getLogger(name)
    while logger is not None:
        found += [h for h in logger.handlers if type(h) is logging.StreamHandler]  # not pytest's own
        logger = logger.parent if logger.propagate else None
    return found


def test_a_403_is_printed_once_under_debug(client: Client, settings) -> None:
    # Under DEBUG, Django's own console handler used to print the record again beside the root's.
    settings.DEBUG = True
    client.force_login(UserFactory(username="plain"))
    handlers = _streams_of("django.request")
    outputs = [io.StringIO() for _ in handlers]
    before = [handler.setStream(output) for handler, output in zip(handlers, outputs, strict=True)]  # type: ignore[arg-type]
    try:
        assert client.get("/dashboard/").status_code == 403
    finally:
        for handler, stream in zip(handlers, before, strict=True):
            handler.setStream(stream)
    lines = "".join(output.getvalue() for output in outputs).splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("WARNING django.request: Forbidden (Permission denied): /dashboard/")


def _server_record(status: int) -> logging.LogRecord:
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"GET / HTTP/1.1" %s 0', (status,), None
    )
    record.status_code = status
    return record


def test_runserver_leaves_out_the_access_line_of_a_4xx_that_django_request_logged() -> None:
    # The logger as a whole, not its one filter: each django.setup() (Celery's Django fixup calls it again
    # in a process that already had it) configures the filter once more.
    server = logging.getLogger("django.server")
    assert not server.filter(_server_record(403))
    assert not server.filter(_server_record(404))
    assert server.filter(_server_record(200))
    assert server.filter(_server_record(302))
    assert server.filter(_server_record(500))


def test_a_successful_sign_in_logs_nothing_but_a_lockout_warning_would() -> None:
    # The level itself: the tests' root logger may be quieter than the demo's INFO.
    assert logging.getLogger("axes").level == logging.WARNING


def test_the_favicon_browsers_ask_for_is_served_not_a_404(client: Client, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert not [r for r in caplog.records if r.name == "django.request"]
