"""Model rows read and written by hand: the column lists and conversions a queryset would use, made once.

The step path (engine/runtime/hotpath.py) runs a few statements per step; compiling them through the ORM
cost more Python than PostgreSQL spent running them. A `Reader` turns a fetched row into the same model
object a queryset gives (converters applied, omitted fields deferred); an `Inserter` writes rows from plain
dicts of field values, each field prepared as a save would prepare it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.base import ModelState


class Reader:
    """Reads rows of one model without the ORM's query compiler: the column list to select, and the
    conversion of a fetched row back into a model object, as a queryset would have made it.

    Fields left out (`omit`) are deferred on the object, as with `.defer()`.
    """

    def __init__(self, model: type[models.Model], *, alias: str = "", omit: Sequence[str] = ()) -> None:
        fields = [f for f in model._meta.concrete_fields if f.name not in omit]
        prefix = f"{alias}." if alias else ""
        self.model = model
        self.width = len(fields)
        self.columns = ", ".join(prefix + connection.ops.quote_name(column_of(f)) for f in fields)
        self._attnames = [f.attname for f in fields]
        self._converters = []
        for index, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            converters = [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]
            if converters:
                self._converters.append((index, col, converters))
        # django-fsm's record of the state a conditional save must expect (ConcurrentTransitionMixin)
        self._fsm = hasattr(model, "_update_initial_state")

    def build(self, values: Sequence[Any]) -> Any:
        """The object `Model.from_db` makes of the row, without `Model.__init__`: the values are already
        the fields' (converted as a queryset converts them), so they go into the instance's dict as
        `__init__` would put them there; a field not read is deferred, as a missing attribute is."""
        db = connections[DEFAULT_DB_ALIAS]
        row = list(values)
        for index, col, converters in self._converters:
            for convert in converters:
                row[index] = convert(row[index], col, db)
        obj = self.model.__new__(self.model)
        state = obj._state = ModelState()
        state.adding, state.db = False, DEFAULT_DB_ALIAS
        obj.__dict__.update(zip(self._attnames, row, strict=True))
        if self._fsm:
            obj._update_initial_state()  # type: ignore[attr-defined]
        return obj


@cache
def reader(model: type[models.Model], vendor: str, alias: str = "", omit: tuple[str, ...] = ()) -> Reader:
    """The Reader of `model` for this database vendor (quoting and converters differ), made once."""
    return Reader(model, alias=alias, omit=omit)


def column_of(field: models.Field[Any, Any]) -> str:
    assert field.column is not None  # concrete fields always have a column
    return field.column


class Inserter:
    """A multi-row INSERT of one model from plain dicts of `attname: value` (no model objects: building them
    costs more than the statement); missing fields take the model's default, `auto_now_add` ones `now`."""

    def __init__(self, model: type[models.Model]) -> None:
        self.table = model._meta.db_table
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.columns = ", ".join(connection.ops.quote_name(column_of(f)) for f in self.fields)
        self.row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        self.stamped = {f.attname for f in self.fields if getattr(f, "auto_now_add", False)}
        self._plain = {f.attname: _plain_types(f) for f in self.fields if _plain_types(f)}

    def sql(self, rows: Sequence[dict[str, Any]], now: datetime) -> tuple[str, list[Any]]:
        params = [value for row in rows for value in self._values(row, now)]
        values = ", ".join([self.row] * len(rows))
        return f"INSERT INTO {self.table} ({self.columns}) VALUES {values}", params

    def sql_for_each(self, row: dict[str, Any], now: datetime, source: str) -> tuple[str, list[Any]]:
        """INSERT `row` once for every row of `source` (a CTE): none when it returned nothing."""
        marks = ", ".join(["%s"] * len(self.fields))
        return f"INSERT INTO {self.table} ({self.columns}) SELECT {marks} FROM {source}", self._values(
            row, now
        )

    def _values(self, row: dict[str, Any], now: datetime) -> list[Any]:
        db = connections[DEFAULT_DB_ALIAS]
        values = []
        for f in self.fields:
            name = f.attname
            value = row[name] if name in row else now if name in self.stamped else f.get_default()
            # A str or int for a text or integer column is what the field's preparation would give back.
            plain = value is None or type(value) in self._plain.get(name, ())
            values.append(value if plain else f.get_db_prep_save(value, db))
        return values


def _plain_types(field: models.Field[Any, Any]) -> tuple[type, ...]:
    """The Python types whose values `field` writes unchanged (its preparation is the identity for them)."""
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    kind = target.get_internal_type()
    if kind in {"CharField", "TextField", "SlugField"}:
        return (str,)
    if kind in {"IntegerField", "PositiveIntegerField", "BigIntegerField", "BigAutoField", "AutoField"}:
        return (int,)
    return ()


@cache
def inserter(model: type[models.Model], vendor: str) -> Inserter:
    """The Inserter of `model` for this database vendor, made once."""
    return Inserter(model)
