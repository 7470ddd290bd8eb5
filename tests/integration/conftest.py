"""Fixtures for tests that use the database."""

from __future__ import annotations

import pytest

import tests.support.activities  # noqa: F401  (registers the test activities)
from engine.runtime import dispatch
from tests.support.engine import FakeBroker


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    """Replace the broker, the one thing outside the project, with a list the test drains."""
    fake = FakeBroker()
    monkeypatch.setattr(dispatch, "celery_send", fake)
    return fake
