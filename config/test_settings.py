"""Settings for the test run: the environment defaults tests need, then the ordinary settings.

The defaults go into os.environ (not just this module) so that a Celery worker a test starts inherits them.
"""

from __future__ import annotations

import os
from pathlib import Path

_VAR = Path(__file__).resolve().parent.parent / "var"
_DEFAULTS = {
    "DJANGO_SECRET_KEY": "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SECURE_COOKIES": "0",
    "PHASEGATE_STATIC_MANIFEST": "0",
    "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
    "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "DJANGO_LOG_LEVEL": "WARNING",
    "PHASEGATE_EXAMPLES": "1",  # the example activities the tests run
    # A file, not memory, so that a Celery worker started by the tests sees the same SQLite test database.
    "SQLITE_TEST_PATH": str(_VAR / f"test-{os.getpid()}.sqlite3"),
    "PHASEGATE_BROKER_DIR": str(_VAR / f"test-broker-{os.getpid()}"),
    # A queue of its own, so a worker left over from another run can never take this run's messages.
    "PHASEGATE_DEFAULT_QUEUE": f"phasegate-test-{os.getpid()}",
    # Prometheus counters of this run's processes only (the test process and the workers it starts).
    "PROMETHEUS_MULTIPROC_DIR": str(_VAR / f"test-prometheus-{os.getpid()}"),
    "PHASEGATE_SWEEP_QUEUE": f"phasegate-sweeps-test-{os.getpid()}",
}
for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)

from config.settings import *  # noqa: E402, F403

# A PostgreSQL test database of this run's own, so two runs on one server (a developer's and CI's, or two
# checkouts) never drop each other's database.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_phasegate_{os.getpid()}"}  # noqa: F405
