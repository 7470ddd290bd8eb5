"""A worker stopped (SIGSTOP) inside a transaction, holding row locks: nothing else waits on it longer than
the lock timeout, PostgreSQL ends its session after the idle-in-transaction timeout, and its own work is
recovered once the lease expires; nothing is lost or done twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.db import connection

from engine.models import Transition
from engine.runtime.start import start_instance
from tests.reliability.conftest import LEASE_SECONDS, report, size
from tests.support.activities import FREEZE_ENV
from tests.support.chaos import check_ledger, finished, ledger_chain, start_many, worst_reap_delay
from tests.support.worker import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.requires_postgres, pytest.mark.django_db(transaction=True)]
LOCK_TIMEOUT_MS = 2000
IDLE_TIMEOUT_MS = 3000


def stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def sessions_idle_in_transaction_for(seconds: float) -> int:
    """Sessions of the test database that have sat inside a transaction for over `seconds` (the frozen
    process's, while the server lets it live; a busy worker is there only for moments)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'"
            " AND datname = current_database() AND state_change < now() - make_interval(secs => %s)",
            [seconds],
        )
        return cursor.fetchone()[0]


def test_a_worker_frozen_inside_a_transaction_delays_nothing_else(cluster, tmp_path: Path):
    marker = tmp_path / "freeze"
    running = cluster(
        **{
            FREEZE_ENV: str(marker),
            "WORKER_DATABASE_LOCK_TIMEOUT_MS": str(LOCK_TIMEOUT_MS),
            "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS": str(IDLE_TIMEOUT_MS),
        }
    )
    ledger_chain("frozen", 3)
    marker.write_text("")
    victim = start_instance("frozen", {})  # the first write inside a transaction stops its process there
    pid_file = Path(f"{marker}.pid")
    frozen = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=60))
    frozen_at = time.monotonic()
    try:
        others = start_many("frozen", size(10, 40))
        wait_for(lambda: finished(others) == len(others), timeout=90, interval=0.5)
        still_stopped = stopped(frozen)
        session_ended = sessions_idle_in_transaction_for(2 * IDLE_TIMEOUT_MS / 1000) == 0
        others_done_s = round(time.monotonic() - frozen_at, 1)
    finally:
        os.kill(frozen, signal.SIGCONT)
    wait_for(lambda: finished([victim.pk]) == 1, timeout=90, interval=0.5)
    # How long the other instances' attempts waited between ready and claimed: bounded by the lock timeout.
    waits = [
        (claim.created_at - ready.created_at).total_seconds() for ready, claim in _ready_then_claimed(others)
    ]
    figures = check_ledger([victim.pk, *others])
    report(
        "worker stopped inside a transaction",
        **figures,
        others_finished_while_frozen=still_stopped,
        others_done_after_s=others_done_s,
        worst_wait_of_others_s=round(max(waits), 1),
        lock_timeout_s=LOCK_TIMEOUT_MS / 1000,
        frozen_session_ended_by_server=session_ended,
        worst_reap_delay_s=worst_reap_delay([victim.pk], LEASE_SECONDS),
    )
    assert still_stopped, "the frozen process was continued before the others finished"
    assert figures["completed"] == len(others) + 1, running.logs()
    assert (figures["missing"], figures["succeeded_twice"]) == (0, 0)
    assert session_ended


def _ready_then_claimed(ids: list[object]) -> list[tuple[Transition, Transition]]:
    pairs = []
    for ready in Transition.objects.filter(instance_id__in=ids, name="make_ready", item_run=None):
        claim = (
            Transition.objects.filter(phase_run_id=ready.phase_run_id, name="claim_attempt", id__gt=ready.id)
            .order_by("id")
            .first()
        )
        if claim is not None:
            pairs.append((ready, claim))
    return pairs
