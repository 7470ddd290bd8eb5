"""Database timeouts and outages: session limits per process kind, health-checked connections, and API
errors in the API's shape (503 with a code) while the database is out."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import Client

from config.database import apply_role
from engine.runtime.start import start_instance
from tests.support.engine import publish, template
from tests.support.worker import Worker, purge_broker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-test-password"


@pytest.fixture
def api_user() -> Any:
    return get_user_model().objects.create_user("api", password=PASSWORD, is_staff=True)


def basic_auth(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()


def session_limits() -> dict[str, str]:
    with connection.cursor() as cursor:
        values = {}
        for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout"):
            cursor.execute(f"SHOW {name}")
            values[name] = cursor.fetchone()[0]
    return values


@pytest.fixture
def restore_database_options() -> Iterator[None]:
    database = settings.DATABASES["default"]
    before = dict(database.get("OPTIONS", {}))
    yield
    database["OPTIONS"] = before
    connection.close()


@pytest.mark.requires_postgres
def test_every_connection_ends_idle_transactions_and_the_web_gets_lock_and_statement_limits(
    restore_database_options: None,
) -> None:
    connection.close()
    assert session_limits()["idle_in_transaction_session_timeout"] == "30s"
    apply_role("web")
    assert session_limits() == {
        "lock_timeout": "5s",
        "statement_timeout": "30s",
        "idle_in_transaction_session_timeout": "30s",
    }


@pytest.mark.requires_postgres
@pytest.mark.integration
def test_a_celery_worker_gets_the_worker_limits(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_DATABASE_STATEMENT_TIMEOUT_MS", "45000")
    monkeypatch.setenv("WORKER_DATABASE_LOCK_TIMEOUT_MS", "2500")
    publish(template("limits", {"id": "show", "type": "task", "activity": "test.db_limits"}))
    purge_broker()
    worker = Worker(tmp_path)
    worker.start()
    try:
        instance = start_instance("limits", {})
        run = wait_for(lambda: instance.phase_runs.filter(state="completed").first(), timeout=60)
    finally:
        worker.stop()
    assert run.output == {
        "lock_timeout": "2500ms",
        "statement_timeout": "45s",
        "idle_in_transaction_session_timeout": "30s",
    }


@pytest.mark.requires_postgres
@pytest.mark.integration
def test_a_worker_process_keeps_its_database_connection_from_task_to_task(tmp_path) -> None:
    # Celery's Django fixup closes every connection around each task unless CELERY_DB_REUSE_MAX is set.
    publish(template("backend", {"id": "pid", "type": "task", "activity": "test.backend_pid"}))
    purge_broker()
    worker = Worker(tmp_path, concurrency=1)
    worker.start()
    try:
        # One message each, one after the other, all in the worker's one pool process.
        pids = [completed_output(start_instance("backend", {}))["pid"] for _ in range(4)]
    finally:
        worker.stop()
    assert len(set(pids)) == 1, pids


def completed_output(instance: Any) -> dict[str, Any]:
    return wait_for(lambda: instance.phase_runs.filter(state="completed").first(), timeout=60).output


def test_api_errors_keep_their_shape_while_the_database_is_out(api_user: Any) -> None:
    database = connection.settings_dict
    saved = {key: database[key] for key in ("NAME", "PORT")}
    connection.close()
    if connection.vendor == "postgresql":
        database["PORT"] = "1"  # nothing listens there: the connection is refused
    else:
        database["NAME"] = "/nonexistent-directory/db.sqlite3"
    try:
        client = Client(raise_request_exception=False)
        response = client.get("/api/instances/", HTTP_AUTHORIZATION=basic_auth("api"))
    finally:
        connection.close()
        database.update(saved)
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert set(response.json()) == {"code", "message", "extra"}
    assert response["Retry-After"]


def wsgi_get(path: str, authorization: str) -> tuple[int, bytes]:
    """A request through Django's real WSGI handler (the test client skips the per-request connection
    checks that a server makes)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": authorization,
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    status: list[str] = []
    body = b"".join(WSGIHandler()(environ, lambda code, headers: status.append(code)))
    return int(status[0].split()[0]), body


@pytest.mark.requires_postgres
def test_a_connection_the_server_dropped_between_requests_costs_no_request_an_error(api_user: Any) -> None:
    import psycopg

    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    assert wsgi_get("/api/instances/", basic_auth("api"))[0] == 200
    first = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first])  # as a database restart would
    status, body = wsgi_get("/api/instances/", basic_auth("api"))
    assert status == 200, body[:500]
    assert connection.connection.info.backend_pid != first


@pytest.mark.requires_postgres
def test_the_health_check_of_a_kept_connection_asks_the_socket_before_the_server() -> None:
    """Django checks a kept connection before each request and task; with nothing to read on an idle
    connection's socket it is usable without a `SELECT 1` round trip. A connection the server ended has
    something to read (its FATAL message, then the end) and is found unusable."""
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last statement before the check'")
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as admin:
        assert connection.is_usable()
        last = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        assert last == ("SELECT 'the last statement before the check'",)  # no SELECT 1 ran
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        admin.execute("SELECT pg_sleep(0.2)")
    assert not connection.is_usable()
    connection.close()
