"""Activities for the engine's own tests; a worker started by the tests imports them with --include."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from engine.activities import ActivityContext, activity
from engine.errors import DataError, RateLimitError, TransientError

CALLS_DIR_ENV = "PHASEGATE_TEST_CALLS_DIR"


def _note_call(name: str, ctx: ActivityContext) -> None:
    """Append one line per call to a file, so tests can count calls made in another process."""
    folder = os.environ.get(CALLS_DIR_ENV)
    if folder:
        with Path(folder, f"{name}.log").open("a") as log:
            log.write(f"{ctx.idempotency_key} {ctx.attempt} {os.getpid()}\n")


@activity("test.echo")
def echo(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Return the input, and which attempt produced it."""
    _note_call("test.echo", ctx)
    return {**input, "attempt": ctx.attempt}


@activity("test.flaky")
def flaky(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Fail the first `fail_times` attempts with `kind` (transient, rate_limit, data, …), then succeed."""
    _note_call("test.flaky", ctx)
    if ctx.attempt <= int(input.get("fail_times", 0)):
        kind = input.get("kind", "transient")
        if kind == "rate_limit":
            raise RateLimitError("slow down", retry_after=input.get("retry_after"))
        if kind == "data":
            raise DataError("row 7 has no price")
        if kind == "connection":
            raise ConnectionError("connection reset by peer")
        if kind == "system":
            raise RuntimeError("unexpected")
        raise TransientError("upstream timed out")
    return {"ok": True, "attempt": ctx.attempt}


@activity("test.sleep")
def sleep(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Write a marker file, then sleep `seconds` (heartbeating if asked); used by crash tests."""
    _note_call("test.sleep", ctx)
    marker = input.get("marker")
    if marker and ctx.attempt <= int(input.get("sleep_attempts", 1)):
        Path(marker).write_text(str(os.getpid()))
        deadline = time.monotonic() + float(input.get("seconds", 30))
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if input.get("heartbeat"):
                ctx.heartbeat()
    return {"slept": True, "attempt": ctx.attempt}


@activity("test.gate")
def gate(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """A gate backed by an activity: passes when input.passed is true."""
    return {
        "passed": bool(input.get("passed")),
        "reason": "row count checked",
        "action": "CHECK_ROWS",
        "rows": 3,
    }


@activity("test.not_json")
def not_json(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Return something that is not JSON."""
    return {"when": object()}


@activity("test.resume")
def resume(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Checkpoint progress, fail once, and finish from the checkpoint on the retry."""
    done = (ctx.last_checkpoint or {}).get("done", 0)
    if ctx.attempt == 1:
        ctx.checkpoint({"done": done + 2})
        raise TransientError("lost the connection after two chunks")
    return {"resumed_from": done, "attempt": ctx.attempt}


@activity("test.db_limits")
def db_limits(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """The session limits of the worker's own database connection (PostgreSQL)."""
    from django.db import connection

    names = ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout")
    with connection.cursor() as cursor:
        values = {}
        for name in names:
            cursor.execute(f"SHOW {name}")
            values[name] = cursor.fetchone()[0]
    return values


@activity("test.backend_pid")
def backend_pid(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Which PostgreSQL backend serves the worker's connection: the same one across tasks while it is kept."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return {"pid": cursor.fetchone()[0]}


# --- the fault suite (tests/reliability) ------------------------------------------------------------------

LEDGER_TABLE = "reliability_ledger"
FREEZE_ENV = "PHASEGATE_TEST_FREEZE_MARKER"


@activity("test.ledger")
def ledger(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """An effect recorded by idempotency key (one row per call, committed at once, outside the engine's
    transactions), so SQL can tell an effect that is missing from one that happened twice."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LEDGER_TABLE} (key, attempt, pid) VALUES (%s, %s, %s)",
            [ctx.idempotency_key, ctx.attempt, os.getpid()],
        )
    time.sleep(float(input.get("seconds", 0)))
    return {"recorded": ctx.idempotency_key, "attempt": ctx.attempt}


@activity("test.poison")
def poison(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Kill the worker process that runs it, every time (a segfaulting library, the OOM killer)."""
    _note_call("test.poison", ctx)
    os.kill(os.getpid(), 9)
    return {}


def _freeze_inside_a_transaction(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """With the marker file present, the first pool process to write inside a transaction takes the marker
    and stops itself (SIGSTOP) right there, holding its row locks: a worker frozen inside a transaction."""
    result = execute(sql, params, many, context)
    marker = os.environ.get(FREEZE_ENV, "")
    if marker and context["connection"].in_atomic_block and sql.lstrip().upper().startswith("UPDATE"):
        try:
            os.rename(marker, f"{marker}.taken")  # exactly one process wins the marker
        except OSError:
            return result
        Path(f"{marker}.pid").write_text(str(os.getpid()))
        os.kill(os.getpid(), 19)  # SIGSTOP
    return result


if os.environ.get(FREEZE_ENV):
    from celery.signals import worker_process_init

    @worker_process_init.connect(weak=False)
    def _install_freeze(**_: Any) -> None:
        from django.db import connection

        connection.execute_wrappers.append(_freeze_inside_a_transaction)
