"""The services fail under a run: Redis FLUSHALL mid-run, and PostgreSQL restarted mid-run. Each on a server
the test starts itself on its own port (never the shared ones)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, connection

from tests.integration.test_database_limits import PASSWORD, basic_auth, wsgi_get
from tests.reliability.conftest import LEASE_SECONDS, create_ledger, report, size
from tests.support.chaos import check_ledger, finished, ledger_chain, start_many, worst_reap_delay
from tests.support.worker import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.requires_postgres, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def finished_despite_outage(ids: list[object]) -> int:
    """`finished(ids)`, or 0 while the database is away (the poll goes on)."""
    try:
        return finished(ids)
    except DatabaseError:
        connection.close()
        return 0


# --- Redis ----------------------------------------------------------------------------------------------


@contextmanager
def own_redis(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=20)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def sending_to(url: str) -> Iterator[None]:
    """This process's Celery app sends to `url` (the workers are started with the same broker)."""
    from config.celery import app

    before = app.conf.broker_url

    def reconnect(to: str) -> None:
        app.conf.broker_url = to
        app._pool = None  # the connection and producer pools are made again for the new URL
        app.amqp._producer_pool = None

    reconnect(url)
    try:
        yield
    finally:
        reconnect(before)


def flushall(url: str) -> None:
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port))) as redis:
        redis.sendall(b"FLUSHALL\r\n")
        assert redis.recv(64).startswith(b"+OK")


def test_redis_flushall_mid_run_loses_nothing(cluster, tmp_path: Path):
    with own_redis(tmp_path) as url, sending_to(url):
        running = cluster(CELERY_BROKER_URL=url)
        ledger_chain("flushed", 3, seconds=0.05)
        count = size(24, 200)
        ids = start_many("flushed", count)
        wait_for(lambda: finished(ids) >= count // 4, timeout=120, interval=0.2)
        done_at_flush = finished(ids)
        flushall(url)  # every queued and unacknowledged message is gone
        flushed_at = time.monotonic()
        wait_for(lambda: finished(ids) == count, timeout=size(120, 300), interval=0.5)
        recovered = round(time.monotonic() - flushed_at, 1)
        figures = check_ledger(ids)
        report(
            "Redis FLUSHALL mid-run",
            **figures,
            finished_at_flush=done_at_flush,
            all_done_after_flush_s=recovered,
            worst_reap_delay_s=worst_reap_delay(ids, LEASE_SECONDS),
        )
        running.stop()
    assert figures["completed"] == count
    assert (figures["missing"], figures["succeeded_twice"]) == (0, 0)


# --- PostgreSQL -----------------------------------------------------------------------------------------


def as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` system user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextmanager
def own_postgres() -> Iterator[tuple[int, Path]]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no initdb under /usr/lib/postgresql/*/bin: cannot start a PostgreSQL cluster of its own")
    bin_dir = Path(found[-1]).parent
    # Not under pytest's tmp_path: the postgres user must be able to reach it (pytest's folders are 0700).
    home = Path(tempfile.mkdtemp(prefix="phasegate-chaos-pg-"))
    data = home / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    run = as_postgres_user()
    subprocess.run(
        [*run, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
    ctl = [*run, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w"]
    subprocess.run([*ctl, "-o", options, "start"], check=True, capture_output=True)
    try:
        yield port, data
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def restart(data: Path) -> None:
    pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
    command = [*as_postgres_user(), pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-w"]
    subprocess.run([*command, "-m", "fast", "restart"], check=True, capture_output=True)


@contextmanager
def using_database(port: int) -> Iterator[None]:
    """This process (and the workers it starts, which copy its settings) use the cluster on `port`."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute("CREATE DATABASE chaos")
    database = connection.settings_dict
    saved = {key: database[key] for key in ("HOST", "PORT", "NAME")}
    connection.close()
    database.update(HOST="127.0.0.1", PORT=str(port), NAME="chaos")
    try:
        call_command("migrate", verbosity=0)
        create_ledger()
        yield
    finally:
        connection.close()
        database.update(saved)


def test_postgresql_restarted_mid_run_loses_nothing(cluster, tmp_path: Path):
    with own_postgres() as (port, data), using_database(port):
        get_user_model().objects.create_user("api", password=PASSWORD, is_staff=True)
        assert wsgi_get("/api/instances/", basic_auth("api"))[0] == 200  # a pooled connection now exists
        running = cluster()
        try:
            ledger_chain("restarted", 3, seconds=0.05)
            count = size(24, 200)
            ids = start_many("restarted", count)
            wait_for(lambda: finished(ids) >= count // 4, timeout=120, interval=0.2)
            done_at_restart = finished(ids)
            restart(data)
            restarted_at = time.monotonic()
            # The web process's pooled connection died with the server: the next requests must not be 500s.
            web = [wsgi_get("/api/instances/", basic_auth("api"))[0] for _ in range(5)]
            wait_for(lambda: finished_despite_outage(ids) == count, timeout=size(180, 400), interval=0.5)
            recovered = round(time.monotonic() - restarted_at, 1)
            figures = check_ledger(ids)
            report(
                "PostgreSQL restarted mid-run",
                **figures,
                finished_at_restart=done_at_restart,
                all_done_after_restart_s=recovered,
                web_statuses_after_restart=web,
                worst_reap_delay_s=worst_reap_delay(ids, LEASE_SECONDS),
            )
        finally:
            running.stop()
    assert figures["completed"] == count
    assert (figures["missing"], figures["succeeded_twice"]) == (0, 0)
    assert 500 not in web
