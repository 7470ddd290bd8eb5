"""Recovery does not queue behind work: with a thousand work messages waiting, a lost attempt is still reaped
within its lease plus two sweep periods, because the sweeps travel on a queue (and a worker) of their own."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings

from engine.models import Transition
from engine.runtime.start import start_instance
from tests.reliability.conftest import report, size
from tests.support.chaos import finished, ledger_chain, start_many, worst_reap_delay
from tests.support.engine import publish, template
from tests.support.worker import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.requires_postgres, pytest.mark.django_db(transaction=True)]

REAP_EVERY = 1
LOST_LEASE = 20  # long enough to queue the backlog while the attempt still holds its lease
BACKLOG = 1000


def queued(queue: str) -> int:
    """Messages waiting in a queue of the broker (not yet taken by a worker)."""
    from config.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue, passive=True).message_count


def test_a_lost_attempt_is_reaped_in_time_behind_a_thousand_queued_messages(cluster, tmp_path: Path):
    running = cluster(PHASEGATE_REAP_EVERY=str(REAP_EVERY))
    marker = tmp_path / "sleeping"
    publish(
        template(
            "lost",
            {
                "id": "long",
                "type": "task",
                "activity": "test.sleep",
                "heartbeat": f"PT{LOST_LEASE}S",  # the lease; the activity never beats, so it lapses
                "retry": {"max_attempts": 3, "initial_interval": "PT0S"},
                "input": {"marker": f'"{marker}"', "seconds": "120"},
            },
        )
    )
    lost = start_instance("lost", {})
    pid = int(wait_for(lambda: marker.exists() and marker.read_text(), timeout=60))
    started = time.monotonic()

    ledger_chain("backlog", 1, seconds=0.05)
    backlog = start_many("backlog", size(BACKLOG, BACKLOG))
    os.kill(pid, signal.SIGKILL)  # the worker holding the lease is gone for good
    waiting_at_kill = queued(settings.CELERY_TASK_DEFAULT_QUEUE)

    wait_for(
        lambda: Transition.objects.filter(instance=lost, actor_label="system:reaper").exists(),
        timeout=LOST_LEASE + 60,
        interval=0.2,
    )
    waiting_at_reap = queued(settings.CELERY_TASK_DEFAULT_QUEUE)
    delay = worst_reap_delay([lost.pk], LOST_LEASE)
    report(
        "lost attempt behind a backlog",
        queued_at_kill=waiting_at_kill,
        queued_at_reap=waiting_at_reap,
        backlog_finished_at_reap=finished(backlog),
        reap_delay_after_lease_s=delay,
        seconds_since_claim=round(time.monotonic() - started, 1),
    )
    assert waiting_at_reap > 0, "the backlog drained before the reap: the case proved nothing"
    # Within two sweep periods of the lease's end (and a second of scheduling on a busy machine), not after
    # the backlog ahead of it.
    assert delay is not None and delay <= 2 * REAP_EVERY + 1, running.logs()
