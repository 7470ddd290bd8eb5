"""Fixtures for tests that use the database."""

from __future__ import annotations

import pytest

import tests.support.activities  # noqa: F401  (registers the test activities)
from tests.support.engine import FakeBroker


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    """Replace the broker, the one thing outside the project, with a list the test drains."""
    return FakeBroker.installed(monkeypatch)
