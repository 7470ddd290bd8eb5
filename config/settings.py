"""Django settings for Phasegate. Every deploy-specific value comes from the environment (see README.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str
from engine.definition.durations import DurationError, parse_duration  # pure Python, no Django

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PHASEGATE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local development).")
    SECRET_KEY = "insecure-development-key-never-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rest_framework.authtoken",
    "engine",
    "engine.pages",
    "designer",
]
# The example systems (their activities, with fault injection, and `manage.py demo_setup`) belong to the
# demo and the tests only: a production install offers none of them.
PHASEGATE_EXAMPLES = env_bool("PHASEGATE_EXAMPLES", False)
if PHASEGATE_EXAMPLES:
    INSTALLED_APPS.append("fixtures")

MIDDLEWARE = [
    # First, so it runs after every other middleware is done with the response (config/heap.py).
    "config.heap.ReleaseRenderedViews",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request: NUL characters and undecodable text anywhere get a 400.
    "engine.middleware.RefuseBadInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into engine.lockout's 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL session limits in milliseconds (config/database.py says who gets which; 0 means none).
PHASEGATE_DB_LIMITS = {
    "all": {
        "idle_in_transaction_session_timeout": env_int("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", 30_000)
    },
    "web": {
        "lock_timeout": env_int("DATABASE_LOCK_TIMEOUT_MS", 5_000),
        "statement_timeout": env_int("DATABASE_STATEMENT_TIMEOUT_MS", 30_000),
    },
    "worker": {
        "lock_timeout": env_int("WORKER_DATABASE_LOCK_TIMEOUT_MS", 5_000),
        "statement_timeout": env_int("WORKER_DATABASE_STATEMENT_TIMEOUT_MS", 60_000),
    },
}

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
            # A persistent connection is checked before each request reuses it, so a database restart
            # costs no request an error.
            conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
        )
    }
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        from config.database import session_options

        DATABASES["default"]["ENGINE"] = "config.postgresql"  # Django's, with a cheaper health check

        DATABASES["default"].setdefault("OPTIONS", {})["options"] = session_options(
            PHASEGATE_DB_LIMITS["all"]
        )
        if env_bool("DATABASE_PREPARED_STATEMENTS", True):
            # Only the step path's statements bind on the server and so get prepared after this many runs
            # on a connection (engine/runtime/hotpath.py); Django's own queries bind on the client and never
            # are. Off behind a pooler that cannot keep prepared statements.
            DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 2
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "phasegate.sqlite3")),
            # IMMEDIATE takes the write lock when a transaction starts, so SQLite serialises writers
            # instead of failing one of two read-then-write transactions with "database is locked".
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": env_str("SQLITE_TEST_PATH", "") or None},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The covering indexes' INCLUDE columns are PostgreSQL's; SQLite builds the same indexes without them, so
    # `migrate` would warn about it to every demo user.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request while it is missing
# Files browsers ask for at the site's root (favicon.ico), served by WhiteNoise before any view: without
# it, every first visit of a browser logged a 404.
WHITENOISE_ROOT = BASE_DIR / "public"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest needs `collectstatic` first; development and tests serve the files as they are.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("PHASEGATE_STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "pages:inbox"
LOGOUT_REDIRECT_URL = "login"

# Security: strict by default; DJANGO_DEBUG=1 relaxes what only works over HTTPS.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]  # probes and scrapers inside the cluster speak HTTP
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None
X_FRAME_OPTIONS = "DENY"

# The public address of the site, for links in mail (a mail client has no page to be relative to).
PHASEGATE_BASE_URL = env_str("PHASEGATE_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "phasegate@localhost")

# Sign-in throttling (django-axes): the login form, the admin's and the API's basic auth all go through
# authenticate(); after PHASEGATE_LOGIN_FAILURE_LIMIT failures for one username from one address, that pair
# is refused with 429 for PHASEGATE_LOGIN_COOLOFF_MINUTES. A success clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("PHASEGATE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PHASEGATE_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "engine.lockout.lockout_response"
AXES_VERBOSE = False
if env_bool("DJANGO_BEHIND_PROXY"):
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

REST_FRAMEWORK = {
    # The first class answers a request without credentials: 401 with `WWW-Authenticate: Basic`, so a client
    # knows to sign in (403 stays for signed-in users who lack a permission).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "engine.api.authentication.BasicAuthentication",
        # `Authorization: Token <key>` for programs; tokens are made and revoked in the admin (Auth Token).
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "engine.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "engine.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Phasegate API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from the vendored sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "engine.api.schema.add_shared_error_responses",
    ],
}

# Celery. The database is the source of truth; the broker only says "look at attempt N now".
# Without CELERY_BROKER_URL the embedded default is kombu's filesystem transport: nothing to install.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env_str("PHASEGATE_BROKER_DIR", str(VAR_DIR / "broker")))
    for _folder in ("processed", "control"):  # kombu expects the folders to exist
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None  # the engine keeps results in its database
CELERY_TASK_ACKS_LATE = True
# Celery's Django fixup closes every database connection before and after each task unless this is set (it
# no longer follows CONN_MAX_AGE), so each task paid for a new PostgreSQL connection and backend. Set, the
# fixup recycles them every N tasks only, and config/celery.py gives tasks the connection lifecycle Django
# gives requests: CONN_MAX_AGE and the health check.
CELERY_DB_REUSE_MAX = env_int("WORKER_DB_REUSE_MAX", 1000)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Lost work comes back through database leases; redelivering the message of a worker that died can
# loop forever on a poison task.
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_TASK_DEFAULT_QUEUE = env_str("PHASEGATE_DEFAULT_QUEUE", "phasegate")
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3700)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# The recovery sweeps travel on a queue of their own, so a backlog of work cannot delay them: run a worker
# for it (README). A sweep message older than its period is dropped; the next one is on its way.
PHASEGATE_SWEEP_QUEUE = env_str("PHASEGATE_SWEEP_QUEUE", "phasegate-sweeps")
_SWEEPS = {
    "dispatch-due-work": ("engine.tasks.due_work_dispatch", env_int("PHASEGATE_DUE_WORK_EVERY", 2)),
    "reap-expired-leases": ("engine.tasks.leases_reap", env_int("PHASEGATE_REAP_EVERY", 10)),
    "sweep-slas": ("engine.tasks.sla_sweep", env_int("PHASEGATE_SLA_EVERY", 60)),
    "compensations-due": ("engine.tasks.compensations_due", 5),
    "subworkflows-reconcile": ("engine.tasks.subworkflows_reconcile", 10),
    # the dashboard's hourly counts: the last two closed hours again, and older hours never counted
    "count-figures": ("engine.tasks.figures_count", env_int("PHASEGATE_FIGURES_EVERY", 60)),
}
CELERY_TASK_ROUTES = {task: {"queue": PHASEGATE_SWEEP_QUEUE} for task, _ in _SWEEPS.values()}
CELERY_BEAT_SCHEDULE = {
    **{
        name: {"task": task, "schedule": timedelta(seconds=every), "options": {"expires": every}}
        for name, (task, every) in _SWEEPS.items()
    },
    "deliver-outbox": {"task": "engine.tasks.outbox_deliver", "schedule": timedelta(seconds=5)},
    "deliver-webhooks": {"task": "engine.tasks.webhooks_deliver", "schedule": timedelta(seconds=5)},
    "prune-outbox": {"task": "engine.tasks.outbox_prune", "schedule": timedelta(minutes=10)},
    "fire-schedules": {"task": "engine.tasks.schedules_fire", "schedule": timedelta(seconds=10)},
}

OUTBOX_RETENTION = env_str("PHASEGATE_OUTBOX_RETENTION", "P7D")
if OUTBOX_RETENTION not in ("", "0"):
    try:
        parse_duration(OUTBOX_RETENTION)
    except DurationError as exc:
        raise ImproperlyConfigured(f"PHASEGATE_OUTBOX_RETENTION: {exc}") from exc

PHASEGATE: dict[str, Any] = {
    # Webhooks to loopback, private, link-local and metadata addresses are refused unless this is on.
    "WEBHOOK_ALLOW_PRIVATE": env_bool("PHASEGATE_WEBHOOK_ALLOW_PRIVATE", False),
    # A worker that loses its lease this many times in a row on one attempt is treated as a poison activity.
    "MAX_LOST_ATTEMPTS": env_int("PHASEGATE_MAX_LOST_ATTEMPTS", 3),
    # The lease for an attempt whose phase sets neither `timeout` nor `heartbeat`.
    "DEFAULT_LEASE_SECONDS": env_int("PHASEGATE_DEFAULT_LEASE_SECONDS", 300),
    # A worker runs the next ready attempt of the same instance itself, up to this many in a row.
    "LOCAL_CHAIN_LIMIT": env_int("PHASEGATE_LOCAL_CHAIN_LIMIT", 100),
    # A worker runs the other ready attempts its step made itself, after the one it keeps, when their queue
    # already holds this many messages (0: it always sends them).
    "KEEP_LOCAL_BACKLOG": env_int("PHASEGATE_KEEP_LOCAL_BACKLOG", 16),
    # How long a signal that arrives before its wait phase opens is kept, when the phase sets no `buffer`.
    "SIGNAL_BUFFER_SECONDS": env_int("PHASEGATE_SIGNAL_BUFFER_SECONDS", 86400),
    # How deep sub-workflows may nest (a child of a child of …) before starting one more is refused.
    "MAX_SUBWORKFLOW_DEPTH": env_int("PHASEGATE_MAX_SUBWORKFLOW_DEPTH", 10),
    # A sent message that went unanswered this long (lost, or stuck behind a backlog) is sent again.
    "RESEND_AFTER_SECONDS": env_int("PHASEGATE_RESEND_AFTER_SECONDS", 30),
    # Delivered outbox events older than this (ISO 8601 duration) are pruned by beat; 0 keeps them all.
    "OUTBOX_RETENTION": OUTBOX_RETENTION,
}

# Observability. prometheus_client's multiprocess mode: every process (web, each Celery pool process) writes
# its counters to files in this folder and /metrics adds them up. It must be set before prometheus_client
# is imported, hence the environment; clear the folder when the whole deployment restarts.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
PHASEGATE_METRICS = {
    # /metrics answers a request that carries `Authorization: Bearer <token>`, or comes from an allowed
    # address (IPs or CIDR networks); with neither configured, only from this machine (loopback).
    "TOKEN": env_str("PHASEGATE_METRICS_TOKEN"),
    "ALLOWED_IPS": env_list("PHASEGATE_METRICS_ALLOWED_IPS"),
    # /health/ready fails when the due-work sweep (run by beat every 2 s) has not run for this long.
    "BEAT_MAX_AGE_SECONDS": env_int("PHASEGATE_BEAT_MAX_AGE_SECONDS", 60),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "filters": {
        "client_errors_on_one_line": {"()": "config.log_filters.ClientErrorsOnOneLine"},
        "client_errors_logged_by_django_request": {"()": "config.log_filters.ClientErrorsLoggedElsewhere"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler would print every django.* record a second time (under DEBUG) beside
        # the root's: its records go to the root's handler alone, with a time stamp.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.request": {"filters": ["client_errors_on_one_line"]},
        # runserver's access line of a 4xx repeats what django.request has just said (with the reason).
        "django.server": {
            "handlers": ["django.server"],
            "filters": ["client_errors_logged_by_django_request"],
            "level": "INFO",
            "propagate": False,
        },
        # django-axes logs four lines for each successful sign-in; failures and lockouts are warnings.
        "axes": {"level": "WARNING"},
        # The filesystem broker has no host name; kombu warns about that on every connection.
        **({"kombu.connection": {"level": "ERROR"}} if CELERY_BROKER_URL.startswith("filesystem://") else {}),
    },
}
