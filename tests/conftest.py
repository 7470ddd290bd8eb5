"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from hypothesis import settings as hypothesis_settings

# `make test` (and so CI) runs the properties derandomised: the same examples every run, so a red build
# means a regression, never bad luck. `make test-long` explores with fresh randomness and more examples.
hypothesis_settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
hypothesis_settings.register_profile("long", max_examples=3000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip_pg = pytest.mark.skip(reason="needs DATABASE_URL pointing at PostgreSQL")
    for item in items:
        if "requires_postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The test database, dropped at the end even when a worker subprocess still holds a connection to it
    (killed, stopped, or left running by a failed test): leftover workers are killed and every other session
    on the database is ended first, so the DROP cannot fail and leave the database behind."""
    yield
    from tests.support.worker import kill_leftover_workers

    kill_leftover_workers()
    with django_db_blocker.unblock():
        end_other_sessions()


def end_other_sessions() -> None:
    if connection.vendor != "postgresql":
        return  # SQLite: a file, deleted whoever has it open
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
