"""AddIndexOnline (engine/online_schema.py) through the migration executor, on a throwaway table.

On PostgreSQL the index is built CONCURRENTLY (writes go on meanwhile); on SQLite it is the plain
statement; on both it refuses a migration that runs in a transaction. Every engine migration after the
last one written before the rule adds its indexes on existing tables this way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import IntegrityError, NotSupportedError, connection, migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from engine.online_schema import AddIndexOnline

pytestmark = pytest.mark.django_db(transaction=True)  # CONCURRENTLY cannot run inside a transaction

APP = "online_schema_test"
TABLE = f"{APP}_row"
LAST_BEFORE_THE_RULE = 19  # engine/migrations/0019_hourly_counts.py


def table_migration() -> migrations.Migration:
    migration = migrations.Migration("0001_row", APP)
    migration.operations = [
        migrations.CreateModel(
            "Row",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("name", models.CharField(max_length=20)),
            ],
        )
    ]
    return migration


def index_migration(*, atomic: bool = False, unique: bool = False) -> migrations.Migration:
    migration = migrations.Migration("0002_row_name", APP)
    migration.atomic = atomic
    kind = UniqueIndex if unique else models.Index
    migration.operations = [AddIndexOnline("row", kind(fields=["name"], name="row_name"))]
    return migration


class UniqueIndex(models.Index):
    """A unique index as an Index (Django's UniqueConstraint is a constraint, not an AddIndex)."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        statement = super().create_sql(model, schema_editor, using=using, **kwargs)
        statement.template = statement.template.replace("CREATE INDEX", "CREATE UNIQUE INDEX")
        return statement


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    runner = MigrationExecutor(connection)
    yield runner
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(TABLE)}")
    runner.recorder.migration_qs.filter(app=APP).delete()


def statements_of(run: Any) -> list[str]:
    seen: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        run()
    return seen


def indexes() -> dict[str, dict[str, Any]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, TABLE)
    return {name: found[name] for name in found if found[name]["index"] and not found[name]["primary_key"]}


def index_statements(statements: list[str]) -> list[str]:
    return [s for s in statements if re.match(r"\s*(CREATE|DROP) (UNIQUE )?INDEX", s, re.IGNORECASE)]


def test_an_online_index_is_built_concurrently_on_postgresql_and_plainly_elsewhere(
    executor: MigrationExecutor, on_postgres: bool
) -> None:
    before = ProjectState()
    with_table = executor.apply_migration(before, table_migration())
    ran = statements_of(lambda: executor.apply_migration(with_table, index_migration()))

    [create] = index_statements(ran)
    assert create.startswith("CREATE INDEX CONCURRENTLY" if on_postgres else "CREATE INDEX")
    assert ("CONCURRENTLY" in create) is on_postgres
    assert indexes()["row_name"]["columns"] == ["name"]
    assert (APP, "0002_row_name") in executor.recorder.applied_migrations()

    undone = statements_of(lambda: executor.unapply_migration(with_table, index_migration()))
    [drop] = index_statements(undone)
    assert ("CONCURRENTLY" in drop) is on_postgres
    assert "row_name" not in indexes()


def test_an_online_index_refuses_a_migration_that_runs_in_a_transaction(executor: MigrationExecutor) -> None:
    with_table = executor.apply_migration(ProjectState(), table_migration())

    with pytest.raises(NotSupportedError, match="atomic = False"):
        executor.apply_migration(with_table, index_migration(atomic=True))

    assert "row_name" not in indexes()
    assert (APP, "0002_row_name") not in executor.recorder.applied_migrations()


@pytest.mark.requires_postgres
def test_migrate_again_after_a_failed_concurrent_build_replaces_the_invalid_index(
    executor: MigrationExecutor,
) -> None:
    with_table = executor.apply_migration(ProjectState(), table_migration())
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (name) VALUES ('twice'), ('twice'), ('once')")

    with pytest.raises(IntegrityError):
        executor.apply_migration(with_table, index_migration(unique=True))
    assert valid("row_name") is False  # what CONCURRENTLY leaves behind when the build fails

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = (SELECT max(id) FROM {TABLE} WHERE name = 'twice')")
    executor.apply_migration(with_table, index_migration(unique=True))

    assert valid("row_name") is True
    assert indexes()["row_name"]["unique"] is True


def valid(name: str) -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def plain_index_additions(migration: migrations.Migration) -> list[str]:
    """AddIndex operations on a table the migration does not create itself (it may already be big)."""
    created = {op.name_lower for op in migration.operations if isinstance(op, migrations.CreateModel)}
    return [
        f"{migration.name}: {op.index.name} on {op.model_name}"
        for op in migration.operations
        if isinstance(op, migrations.AddIndex)
        and not isinstance(op, AddIndexOnline)
        and op.model_name_lower not in created
    ]


def test_the_rule_tells_a_plain_index_on_an_existing_table_from_an_online_one() -> None:
    late = migrations.Migration("0020_late", "engine")
    late.operations = [
        migrations.AddIndex("phaserun", models.Index(fields=["state"], name="phase_state")),
        AddIndexOnline("phaserun", models.Index(fields=["attempt"], name="phase_attempt")),
        migrations.CreateModel("Fresh", fields=[("id", models.BigAutoField(primary_key=True))]),
        migrations.AddIndex("fresh", models.Index(fields=["id"], name="fresh_id")),
    ]
    assert plain_index_additions(late) == ["0020_late: phase_state on phaserun"]


def test_every_engine_migration_after_the_rule_adds_indexes_to_existing_tables_online() -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    later = [
        migration
        for (app, name), migration in loader.disk_migrations.items()
        if app == "engine" and int(name.split("_", 1)[0]) > LAST_BEFORE_THE_RULE
    ]
    offline = [found for migration in later for found in plain_index_additions(migration)]
    assert offline == [], "use engine.online_schema.AddIndexOnline in a migration with atomic = False"
    in_a_transaction = [m.name for m in later if m.atomic and has_online_index(m)]
    assert in_a_transaction == []


def has_online_index(migration: migrations.Migration) -> bool:
    return any(isinstance(op, AddIndexOnline) for op in migration.operations)
