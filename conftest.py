"""Test-run environment, set before Django reads its settings."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
os.environ.setdefault("PHASEGATE_STATIC_MANIFEST", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

_VAR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "var")
# A file, not memory, so that a Celery worker started by the tests sees the same SQLite test database.
os.environ.setdefault("SQLITE_TEST_PATH", os.path.join(_VAR, f"test-{os.getpid()}.sqlite3"))
os.environ.setdefault("PHASEGATE_BROKER_DIR", os.path.join(_VAR, f"test-broker-{os.getpid()}"))
