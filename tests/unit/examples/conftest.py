"""Fixtures for the example activities' tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fixtures.activities.common import DATA_DIR_ENV
from tests.unit.examples.helpers import DATA, RecordingContext, make_ctx


@pytest.fixture
def ctx() -> RecordingContext:
    return make_ctx()


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the sample data that the activities read instead, for tests that damage it."""
    target = tmp_path / "data"
    shutil.copytree(DATA, target, ignore=shutil.ignore_patterns("*.py"))
    monkeypatch.setenv(DATA_DIR_ENV, str(target))
    return target
