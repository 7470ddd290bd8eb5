"""A refused request is logged on one line; a server error keeps its traceback."""

from __future__ import annotations

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
