"""Schema changes that keep a big table writable while they run: the operations new migrations use.

A plain `CREATE INDEX` holds a lock that blocks every insert, update and delete on the table until the
index is built; on the phase runs, audit rows or outbox events of a production database that is minutes
of a stalled engine. The rule for migrations written from now on:

- an index on a table that already exists is added with `AddIndexOnline` (not `migrations.AddIndex`),
  in a migration of its own that says `atomic = False`;
- an index of a table created in the same migration stays a plain `AddIndex` (the table is empty).

`makemigrations` writes `AddIndex`; change the operation by hand (tests/integration/test_online_schema.py
checks every migration after 0019). On PostgreSQL it is `CREATE INDEX CONCURRENTLY` (and `DROP INDEX
CONCURRENTLY` when unapplied); on other backends, SQLite among them, it is the plain statement. It refuses
to run inside a transaction on every backend, so a migration that forgot `atomic = False` fails on a
developer's SQLite too, not only on the production database.

A concurrent build that fails (a unique index over duplicates, a cancelled statement) leaves an invalid
index behind and the migration unapplied; running `migrate` again drops that invalid index first and
builds it anew.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations import AddIndex


class AddIndexOnline(AddIndexConcurrently):
    """Add an index without blocking writes: CONCURRENTLY on PostgreSQL, plain elsewhere."""

    def describe(self) -> str:
        return f"Create index {self.index.name} on {self.model_name} without blocking writes"

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._ensure_not_in_transaction(schema_editor)
        if schema_editor.connection.vendor != "postgresql":
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
            return
        drop_invalid_index(schema_editor, self.index.name)
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._ensure_not_in_transaction(schema_editor)
        if schema_editor.connection.vendor != "postgresql":
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
            return
        super().database_backwards(app_label, schema_editor, from_state, to_state)


def drop_invalid_index(schema_editor: Any, name: str) -> None:
    """Drop what a failed concurrent build left under `name` (a valid index of that name stays)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid) AND NOT i.indisvalid",
            [name],
        )
        invalid = cursor.fetchone() is not None
    if invalid:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY {schema_editor.quote_name(name)}")
