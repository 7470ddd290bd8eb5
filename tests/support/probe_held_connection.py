"""Run by tests/integration/test_test_database.py in a pytest of its own: a process outside the session
holds a connection to the test database when the session ends (as a stopped or leftover worker would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # pg_stat_activity is read once per transaction

HOLD = """
import sys, time, psycopg
connection = psycopg.connect(host=sys.argv[1], port=sys.argv[2], user=sys.argv[3], dbname=sys.argv[4])
connection.execute("SELECT 1")
time.sleep(120)
"""


def sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_process_holds_a_connection_when_the_session_ends() -> None:
    db = connection.settings_dict
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD,
            db["HOST"] or "127.0.0.1",
            str(db["PORT"] or 5432),
            db["USER"],
            db["NAME"],
        ],
        start_new_session=True,
    )
    wait_for(lambda: sessions() >= 2, timeout=30)
    Path(os.environ["PROBE_OUT"]).write_text(json.dumps({"name": db["NAME"], "holder": holder.pid}))
