"""The SQL of the step path: conditional updates and multi-row inserts, without model round trips.

A step of automated work is three statements on PostgreSQL: lock the instance; complete the run (fenced by
its lease token) with its audit row and event while reading every phase's state; claim the next run with the
rest of the journal (the claim rides along with the insert, `RideAlong`). The lock and the completion go
to the server together (a psycopg pipeline: one round trip), and so does a dispatched attempt's whole claim
transaction when its message carries a hint (`claim_hinted`). Going through querysets and model
saves costs more Python than the database spends on the statements, so those live here as plain SQL through
`connection.cursor()` (rows read and written with `sqlrows`). The statements are portable (`RETURNING` works
on PostgreSQL and SQLite ≥ 3.35); the combined forms are PostgreSQL's (data-modifying CTEs), and SQLite runs
their parts one by one. The same tests run both.

django-fsm stays the declaration of the allowed transitions: every write here asks the model's transition
graph (`target_of`) for the target state, so a transition the model does not declare cannot happen here
either, and the `WHERE state = <source>` of each update is the same fence ConcurrentTransitionMixin uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils import timezone
from django_fsm import ConcurrentTransition

from engine.models import (
    Event,
    ItemRun,
    PhaseRun,
    TemplateVersion,
    Transition,
    VersionState,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.runtime.sqlrows import Reader, column_of, inserter, reader

if TYPE_CHECKING:
    from engine.runtime.dispatch import ClaimHint

AttemptModel = type[PhaseRun] | type[ItemRun]
Journal = tuple[dict[str, Any], dict[str, Any] | None]  # an audit row and its event (journal.journal_rows)


def _cursor() -> Any:
    """A cursor for the step path's statements. On PostgreSQL with `prepare_threshold` set (settings.py),
    one that binds parameters on the server, so that psycopg prepares each statement after a few runs on
    the connection and PostgreSQL stops planning it every step (planning the instance lock's join took
    longer than running it). Django's own queries keep binding on the client and are never prepared."""
    wrapper = connection.cursor()
    if connection.vendor == "postgresql" and connection.settings_dict["OPTIONS"].get("prepare_threshold"):
        wrapper.cursor = _ServerCursor(connection.connection)
    return wrapper


class _ServerCursor(psycopg.Cursor):  # type: ignore[type-arg]
    """psycopg leaves `_query` unset when it runs an already prepared statement, and Django's query log
    (DEBUG, CaptureQueriesContext, the query-count tests) reads the statement from there."""

    def _send_query_prepared(self, name: bytes, pgq: Any, *, binary: bool | None = None) -> None:
        self._query = pgq
        super()._send_query_prepared(name, pgq, binary=binary)


def target_of(model: type[models.Model], name: str, source: str) -> str:
    """The state transition `name` leads to from `source`, per the model's django-fsm declaration.

    Raises TransitionNotAllowed, as the transition method itself would.
    """
    return getattr(model, name)._django_fsm.next_state(source)


@cache
def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), name  # a column, never a reverse relation
    return field


def _prep(model: type[models.Model], name: str, value: Any) -> Any:
    """The value as the database driver wants it (JSON adapted, datetimes in the backend's form)."""
    return _field(model, name).get_db_prep_save(value, connections[DEFAULT_DB_ALIAS])


def _set_clause(model: type[models.Model], values: dict[str, Any]) -> tuple[str, list[Any]]:
    sets: list[str] = []
    params: list[Any] = []
    for name, value in values.items():
        column = _field(model, name).column
        if isinstance(value, _Sql):
            sets.append(f"{column} = {value.sql}")
            params.extend(_prep(model, name, v) if value.prep else v for v in value.params)
        else:
            sets.append(f"{column} = %s")
            params.append(_prep(model, name, value))
    return ", ".join(sets), params


def _update(model: AttemptModel, pk: int, where: str, where_params: Sequence[Any], **values: Any) -> int:
    """`UPDATE … SET <values> WHERE id = pk AND <where>`; returns the number of rows changed."""
    sets, params = _set_clause(model, values)
    sql = f"UPDATE {model._meta.db_table} SET {sets} WHERE id = %s AND {where}"
    with _cursor() as cursor:
        cursor.execute(sql, [*params, pk, *where_params])
        return cursor.rowcount


def _update_returning(
    model: AttemptModel, pk: int, where: str, where_params: Sequence[Any], **values: Any
) -> Any:
    """`_update` that gives back the changed row as a model object (None when nothing matched)."""
    sets, params = _set_clause(model, values)
    read = reader(model, connection.vendor)
    sql = f"UPDATE {model._meta.db_table} SET {sets} WHERE id = %s AND {where} RETURNING {read.columns}"
    with _cursor() as cursor:
        cursor.execute(sql, [*params, pk, *where_params])
        row = cursor.fetchone()
    return read.build(row) if row is not None else None


class _Sql:
    """A SET expression with its own parameters (prepared as the field's values when `prep`)."""

    def __init__(self, sql: str, *params: Any, prep: bool = True) -> None:
        self.sql, self.params, self.prep = sql, params, prep


def set_state(obj: models.Model, state: str) -> None:
    """Tell an object in memory the state its row now has, as a save would have left it.

    The field is protected (no assignment); ConcurrentTransitionMixin's next conditional save must expect
    the new state.
    """
    obj.__dict__["state"] = state
    obj._update_initial_state()  # type: ignore[attr-defined]


# --- the instance lock ----------------------------------------------------------------------------------


def lock_instance(instance_id: Any) -> WorkflowInstance:
    """The instance row locked `FOR UPDATE`, with its version (definition deferred), template and `db_now`:
    what `select_for_update().select_related("version", "template")` gives, without compiling the query.

    PostgreSQL only (the caller uses the queryset elsewhere). Raises WorkflowInstance.DoesNotExist.
    """
    row = _locked(f"{_table(WorkflowInstance)}.id = %s", _prep(WorkflowInstance, "id", instance_id))
    if row is None:
        raise WorkflowInstance.DoesNotExist(f"no instance {instance_id}")
    return row[0]


def lock_phase_run(pk: int) -> PhaseRun | None:
    """A phase run with its instance locked (version, template and `db_now` as `lock_instance` gives them),
    or None. The run's columns are read by the locking statement, so they may predate the lock."""
    row = _locked(f"{_table(PhaseRun)}.id = %s", pk, run=True)
    if row is None:
        return None
    instance, run = row
    run._state.fields_cache["instance"] = instance
    run.db_now = instance.db_now
    return run


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _locked(where: str, param: Any, *, run: bool = False) -> tuple[Any, ...] | None:
    """The one row `where` finds (an instance, or with `run` a phase run and its instance), the instance
    locked FOR UPDATE and nothing else, its version and template attached."""
    sql, readers = _locking_select(connection.vendor, where, run)
    with _cursor() as cursor:
        cursor.execute(sql, [param])
        return _locked_objects(cursor.fetchone(), readers)


@cache
def _locking_select(vendor: str, where: str, run: bool) -> tuple[str, list[Reader]]:
    i_table, v_table, t_table, r_table = map(
        _table, (WorkflowInstance, TemplateVersion, WorkflowTemplate, PhaseRun)
    )
    readers = [
        reader(WorkflowInstance, vendor, i_table),
        reader(TemplateVersion, vendor, v_table, ("definition",)),
        reader(WorkflowTemplate, vendor, t_table),
    ]
    source = i_table
    if run:
        readers.append(reader(PhaseRun, vendor, r_table))
        source = f"{r_table} JOIN {i_table} ON {i_table}.id = {r_table}.instance_id"
    sql = (
        f"SELECT {', '.join(r.columns for r in readers)}, STATEMENT_TIMESTAMP() FROM {source} "
        f"JOIN {v_table} ON {v_table}.id = {i_table}.version_id "
        f"JOIN {t_table} ON {t_table}.id = {i_table}.template_id "
        f"WHERE {where} FOR UPDATE OF {i_table}"
    )
    return sql, readers


def _locked_objects(row: Sequence[Any] | None, readers: list[Reader]) -> tuple[Any, ...] | None:
    if row is None:
        return None
    objects, offset = [], 0
    for read in readers:
        objects.append(read.build(row[offset : offset + read.width]))
        offset += read.width
    instance, version, template = objects[:3]
    instance._state.fields_cache.update(version=version, template=template)
    instance.db_now = row[-1]
    return (instance, *objects[3:])


def startable_version(template_key: str, number: int | None) -> TemplateVersion | None:
    """The published version to start (the newest, or `number`), with its template and `db_now`, or None:
    what `_startable_version`'s queryset gives, without compiling it. PostgreSQL only."""
    vendor, quote = connection.vendor, connection.ops.quote_name
    tables = [quote(model._meta.db_table) for model in (TemplateVersion, WorkflowTemplate)]
    v = reader(TemplateVersion, vendor, tables[0], ("definition",))
    t = reader(WorkflowTemplate, vendor, tables[1])
    which = f"AND {tables[0]}.number = %s " if number is not None else ""
    sql = (
        f"SELECT {v.columns}, {t.columns}, STATEMENT_TIMESTAMP() FROM {tables[0]} "
        f"JOIN {tables[1]} ON {tables[1]}.id = {tables[0]}.template_id "
        f"WHERE {tables[1]}.key = %s AND {tables[0]}.state = %s {which}"
        f"ORDER BY {tables[0]}.number DESC LIMIT 1"
    )
    params: list[Any] = [template_key, VersionState.PUBLISHED, *([number] if number is not None else [])]
    with _cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    version = v.build(row[: v.width])
    version._state.fields_cache["template"] = t.build(row[v.width : -1])
    version.db_now = row[-1]
    return version


# --- the attempt's state changes ------------------------------------------------------------------------


def claim(
    model: AttemptModel,
    pk: int,
    *,
    source: str,
    token: str,
    owner: str,
    now: datetime,
    lease_expires_at: datetime,
) -> Any:
    """Take the run from `source` (pending, ready or waiting) to active under a new lease token.

    Returns the claimed row as read back by the update, or None when the run was no longer in `source`.
    From `pending` this is `make_ready` then `claim_attempt`; from `waiting`, `wake` then `claim_attempt`.
    """
    _claim_targets(model, source)
    return _update_returning(
        model, pk, "state = %s", [source], **_claim_values(token, owner, now, lease_expires_at)
    )


def _claim_targets(model: AttemptModel, source: str) -> None:
    """The model must declare the claim from `source` (raises TransitionNotAllowed otherwise)."""
    if source == "pending":
        target_of(model, "make_ready", source)
    elif source == "waiting":
        target_of(model, "wake", source)
    target_of(model, "claim_attempt", "ready")


def _claim_values(
    token: str, owner: str, now: datetime | None, lease_expires_at: datetime | None, lease_seconds: float = 0
) -> dict[str, Any]:
    """What `claim_attempt` sets: at `now`, leased until `lease_expires_at`; or, with both None, at the
    database's statement time, leased for `lease_seconds`."""
    if now is None:
        stamp: Any = _Sql("STATEMENT_TIMESTAMP()", prep=False)
        started = _Sql("COALESCE(started_at, STATEMENT_TIMESTAMP())", prep=False)
        expires: Any = _Sql("STATEMENT_TIMESTAMP() + %s * INTERVAL '1 second'", lease_seconds, prep=False)
    else:
        stamp, started, expires = now, _Sql("COALESCE(started_at, %s)", now), lease_expires_at
    return {
        "state": "active",
        "attempt": _Sql("attempt + 1", prep=False),
        "lease_token": token,
        "lease_owner": owner,
        "lease_expires_at": expires,
        "started_at": started,
        "next_run_at": None,
        "updated_at": stamp,
    }


@dataclass
class RideAlong:
    """A conditional `UPDATE … RETURNING` that runs with the unit of work's journal insert, in the same
    statement on PostgreSQL (one round trip less). `done` gets the returned row, or None when the update
    matched nothing; it raises then, so the unit of work rolls back with the rows it queued."""

    sql: str
    params: list[Any]
    done: Callable[[Sequence[Any] | None], None]
    width: int


def claim_statement(
    model: AttemptModel,
    pk: int,
    *,
    source: str,
    attempt: int,
    token: str,
    owner: str,
    now: datetime,
    lease_expires_at: datetime,
) -> tuple[str, list[Any], Reader]:
    """`claim` as a statement to run later (see RideAlong), fenced by the attempt number as well: the audit
    row says which attempt this is before the update runs."""
    _claim_targets(model, source)
    sets, params = _set_clause(model, _claim_values(token, owner, now, lease_expires_at))
    read = reader(model, connection.vendor)
    sql = (
        f"UPDATE {model._meta.db_table} SET {sets} WHERE id = %s AND state = %s AND attempt = %s "
        f"RETURNING {read.columns}"
    )
    return sql, [*params, pk, source, attempt], read


def claim_hinted(
    pk: int, hint: ClaimHint, *, token: str, owner: str, lease: timedelta, journal: Journal
) -> tuple[PhaseRun | None, list[int]]:
    """Lock the run's instance and claim the run as its message's hint describes it, with the claim's
    audit row and event, and commit: one round trip (a pipeline of BEGIN, the lock, the claim, COMMIT).

    PostgreSQL only, outside any transaction. The lock is its own statement, so the claim after it reads
    the rows as they are under the lock; the claim is fenced by every value of the hint and by the instance
    running, and the journal is written only for a run it claimed. Returns the claimed run, locked instance
    attached (None when a fence did not hold: the caller then reads the run and decides), and the ids of
    the events written.
    """
    vendor = connection.vendor
    r_table, i_table, v_table = _table(PhaseRun), _table(WorkflowInstance), _table(TemplateVersion)
    lock_sql, readers = _locking_select(vendor, f"{r_table}.id = %s", True)
    target_of(PhaseRun, "claim_attempt", "ready")
    sets, params = _set_clause(PhaseRun, _claim_values(token, owner, None, None, lease.total_seconds()))
    read = reader(PhaseRun, vendor)
    stamp = timezone.now()
    transition, event = journal
    assert event is not None  # a phase run's claim is an event
    t_sql, t_params = inserter(Transition, vendor).sql_for_each(transition, stamp, "c")
    e_sql, e_params = inserter(Event, vendor).sql_for_each(event, stamp, "c")
    instance_id = _prep(WorkflowInstance, "id", hint.instance_id)
    claim_sql = (
        f"WITH c AS (UPDATE {r_table} SET {sets} WHERE id = %s AND state = %s AND attempt = %s "
        f"AND round = %s AND phase_id = %s AND instance_id = %s "
        f"AND EXISTS (SELECT 1 FROM {i_table} JOIN {v_table} ON {v_table}.id = {i_table}.version_id "
        f"WHERE {i_table}.id = %s AND {i_table}.state = %s AND {i_table}.version_id = %s "
        f"AND {v_table}.checksum = %s) "
        f"RETURNING {read.columns}), "
        f"t AS ({t_sql}), e AS ({e_sql} RETURNING id) SELECT c.*, ARRAY(SELECT id FROM e) FROM c"
    )
    fences = [pk, "ready", hint.attempt, hint.round, hint.phase_id, instance_id, instance_id, "running"]
    claim_params = [*params, *fences, hint.version_id, hint.checksum, *t_params, *e_params]
    with connection.cursor():  # connected, and the connection checked as Django checks it
        raw = connection.connection
    locking, claiming = _cursor(), _cursor()
    try:
        with connection.wrap_database_errors, raw.pipeline():
            raw.execute("BEGIN", prepare=False)
            locking.execute(lock_sql, [pk])
            claiming.execute(claim_sql, claim_params)
            raw.execute("COMMIT", prepare=False)
    except BaseException:
        if raw.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raw.rollback()
        raise
    locked = _locked_objects(locking.fetchone(), readers)
    row = claiming.fetchone()
    if locked is None or row is None:
        return None, []
    claimed = read.build(row[: read.width])
    claimed._state.fields_cache["instance"] = locked[0]
    return claimed, list(row[read.width] or [])


def complete_leased(
    model: AttemptModel, pk: int, *, token: str, output: dict[str, Any], now: datetime
) -> bool:
    """Complete an active run if it still holds `token` (what `complete` does); False for a late result."""
    target = target_of(model, "complete", "active")
    changed = _update(
        model, pk, "state = %s AND lease_token = %s", ["active", token], **_completion(target, output, now)
    )
    return bool(changed)


def lock_and_complete(
    instance_id: Any, pk: int, *, token: str, output: dict[str, Any], journal: Journal
) -> tuple[WorkflowInstance, bool, list[tuple[str, int, str, str, int]], list[int]]:
    """Lock the instance (as `lock_instance`), then complete its active run `pk` if it still holds `token`,
    with the completion's audit row and outbox event (`journal`, written only if the run was completed),
    reading every phase's `(phase_id, pk, state, type, round)` as the scheduler needs them; returns (the
    locked instance, accepted, those states, the ids of the events written).

    PostgreSQL only, inside the caller's transaction: two statements sent in one round trip (a pipeline).
    The lock is a statement of its own, so the completion after it reads the rows as they are under the
    lock. The completion is one statement (data-modifying CTEs; its SELECT sees the rows as they were before
    the update, so the completed run's state is overlaid here). Both are stamped by the completion's
    database time, which the instance's `db_now` then gives for the rest of the unit of work.
    """
    vendor = connection.vendor
    lock_sql, readers = _locking_select(vendor, f"{_table(WorkflowInstance)}.id = %s", False)
    transition, event = journal
    target = target_of(PhaseRun, "complete", "active")
    sets, params = _set_clause(
        PhaseRun, _completion(target, output, _Sql("STATEMENT_TIMESTAMP()", prep=False))
    )
    table = PhaseRun._meta.db_table
    stamp = timezone.now()
    t_sql, t_params = inserter(Transition, vendor).sql_for_each(transition, stamp, "done")
    e_sql, e_params = inserter(Event, vendor).sql_for_each(event, stamp, "done") if event else ("", [])
    events = f", e AS ({e_sql} RETURNING id)" if e_sql else ""
    complete_sql = (
        f"WITH done AS (UPDATE {table} SET {sets} WHERE id = %s AND state = %s AND lease_token = %s "
        f"RETURNING id), t AS ({t_sql}){events} "
        f"SELECT phase_id, id, state, phase_type, round, (SELECT count(*) FROM done), "
        f"{'ARRAY(SELECT id FROM e)' if e_sql else 'NULL::int[]'}, STATEMENT_TIMESTAMP() "
        f"FROM {table} WHERE instance_id = %s"
    )
    instance_param = _prep(WorkflowInstance, "id", instance_id)
    locking, completing = _cursor(), _cursor()
    with connection.wrap_database_errors, connection.connection.pipeline():
        locking.execute(lock_sql, [instance_param])
        completing.execute(complete_sql, [*params, pk, "active", token, *t_params, *e_params, instance_param])
    locked = _locked_objects(locking.fetchone(), readers)
    if locked is None:
        raise WorkflowInstance.DoesNotExist(f"no instance {instance_id}")
    instance = locked[0]
    rows = completing.fetchall()
    accepted = bool(rows) and rows[0][5] == 1
    if rows:
        instance.db_now = rows[0][7]
    light = [
        (phase_id, run_pk, target if run_pk == pk and accepted else state, phase_type, round_)
        for phase_id, run_pk, state, phase_type, round_, *_ in rows
    ]
    return instance, accepted, light, list(rows[0][6] or []) if accepted else []


def _completion(target: str, output: dict[str, Any], now: datetime | _Sql) -> dict[str, Any]:
    """What `complete` sets on an attempt run."""
    return {
        "state": target,
        "output": output,
        "error": None,
        "finished_at": now,
        "next_run_at": None,
        "lost_attempts": 0,
        "lease_token": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


def make_ready(model: AttemptModel, pks: Sequence[int], *, now: datetime) -> None:
    """pending → ready for these runs, in one statement; ConcurrentTransition if one was not pending."""
    if not pks:
        return
    target = target_of(model, "make_ready", "pending")
    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"UPDATE {model._meta.db_table} SET state = %s, next_run_at = NULL, updated_at = %s "
        f"WHERE id IN ({marks}) AND state = %s"
    )
    with _cursor() as cursor:
        cursor.execute(sql, [target, _prep(model, "updated_at", now), *pks, "pending"])
        if cursor.rowcount != len(pks):
            raise ConcurrentTransition(f"{len(pks) - cursor.rowcount} run(s) were no longer pending")


# --- starting --------------------------------------------------------------------------------------------


def insert_instance(instance: WorkflowInstance) -> None:
    """INSERT a new instance's row as `save(force_insert=True)` does (auto_now fields stamped by their
    `pre_save`), without the ORM's compiler; the object is then as a save leaves it."""
    fields = WorkflowInstance._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(column_of(f)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    params = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    with _cursor() as cursor:
        cursor.execute(f"INSERT INTO {_table(WorkflowInstance)} ({columns}) VALUES ({marks})", params)
    instance._state.adding, instance._state.db = False, connection.alias
    instance._update_initial_state()  # type: ignore[attr-defined]  # django-fsm's record of the saved state


def insert_runs(
    instance_id: Any, rows: Sequence[tuple[str, str, int, str]], *, now: datetime
) -> dict[str, int]:
    """One PhaseRun per `(phase_id, phase_type, position, state)` in one INSERT; returns their ids by phase.

    Every other column gets the model's default, prepared once rather than once per row. On PostgreSQL the
    varying columns go as four arrays (`unnest`), so the statement's text is the same for every template
    size: psycopg parses and caches it once (it parses a statement longer than 4 KB on every run, and a
    VALUES list of 7 phases is longer), and PostgreSQL prepares it once.
    """
    prototype = PhaseRun(instance_id=instance_id, created_at=now, updated_at=now)
    fields = [f for f in PhaseRun._meta.concrete_fields if not f.primary_key]
    db = connections[DEFAULT_DB_ALIAS]
    constant = {
        f.attname: f.get_db_prep_save(getattr(prototype, f.attname), db)
        for f in fields
        if f.name not in _RUN_VARYING
    }
    if db.vendor == "postgresql":
        sql = _insert_runs_sql(tuple(fields))
        columns = list(zip(*rows, strict=True))
        params: list[Any] = [constant[f.attname] for f in fields if f.name not in _RUN_VARYING]
        params += [list(column) for column in columns]
    else:
        names = ", ".join(f.column for f in fields)
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        params = []
        for row in rows:
            values = dict(zip(_RUN_VARYING, row, strict=True))
            params.extend(values[f.name] if f.name in values else constant[f.attname] for f in fields)
        sql = (
            f"INSERT INTO {PhaseRun._meta.db_table} ({names}) VALUES {', '.join([row_sql] * len(rows))} "
            "RETURNING id, phase_id"
        )
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return {phase_id: pk for pk, phase_id in cursor.fetchall()}


_RUN_VARYING = ("phase_id", "phase_type", "position", "state")


@cache
def _insert_runs_sql(fields: tuple[models.Field[Any, Any], ...]) -> str:
    """`insert_runs`'s statement on PostgreSQL: the constants cast to their columns' types, the varying
    columns from arrays, in the rows' order (so the ids follow the phases' order)."""
    db = connections[DEFAULT_DB_ALIAS]
    selected = [f"v.{f.name}" if f.name in _RUN_VARYING else f"CAST(%s AS {f.db_type(db)})" for f in fields]
    return (
        f"INSERT INTO {PhaseRun._meta.db_table} ({', '.join(column_of(f) for f in fields)}) "
        f"SELECT {', '.join(selected)} FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[]) "
        f"WITH ORDINALITY AS v({', '.join(_RUN_VARYING)}, n) ORDER BY v.n RETURNING id, phase_id"
    )


# --- the journal ----------------------------------------------------------------------------------------


def insert_journal(
    transitions: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]], along: RideAlong | None = None
) -> list[int]:
    """Write the audit rows and outbox events (dicts of field values) with one multi-row INSERT each, and
    run `along` with them; returns the event ids. On PostgreSQL all of it is one statement (data-modifying
    CTEs)."""
    now = timezone.now()
    vendor = connection.vendor
    t_sql, t_params = inserter(Transition, vendor).sql(transitions, now) if transitions else ("", [])
    e_sql, e_params = inserter(Event, vendor).sql(events, now) if events else ("", [])
    with _cursor() as cursor:
        if vendor == "postgresql" and (along or (t_sql and e_sql)):
            parts, params = [], []
            for name, sql, values in (
                ("c", along and along.sql, along and along.params),
                ("t", t_sql, t_params),
            ):
                if sql:
                    parts.append(f"{name} AS ({sql})")
                    params.extend(values or [])
            if e_sql:
                parts.append(f"e AS ({e_sql} RETURNING id)")
                params.extend(e_params)
            ids = "ARRAY(SELECT id FROM e)" if e_sql else "NULL::int[]"
            rest = ", c.* FROM (SELECT 1) AS one LEFT JOIN c ON true" if along else ""
            cursor.execute(f"WITH {', '.join(parts)} SELECT {ids}{rest}", params)
            row = cursor.fetchone()
            if along:
                claimed = row[1:]
                along.done(claimed if claimed[0] is not None else None)
            return list(row[0] or [])
        if along:
            cursor.execute(along.sql, along.params)
            along.done(cursor.fetchone())
        if t_sql:
            cursor.execute(t_sql, t_params)
        if e_sql:
            cursor.execute(f"{e_sql} RETURNING id", e_params)
            return [row[0] for row in cursor.fetchall()]
    return []
