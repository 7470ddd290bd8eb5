"""Keep the objects every process builds at start-up out of the cyclic garbage collector's way.

A web process holds some 120,000 long-lived objects (modules, classes, functions, the URL patterns, the
admin) before it serves anything. Each request allocates thousands of objects that are still alive
when a young-generation collection runs; they are promoted, and although most of them are then freed
by reference counting, the collector keeps counting them as long-lived. Every 15-30 requests that
count passes a quarter of the old generation and CPython runs a full collection, which walks every
long-lived object again: 85-135 ms of CPU on the benchmark machine, about 200 ms under load, all inside
one unlucky request (the p95 tail of the API at production size). None of those objects is garbage.

`settle()` finishes the start-up (the URL configuration, which would otherwise be imported by the
first request), collects once, and moves what is left to the collector's permanent generation
(`gc.freeze()`): later collections walk only what requests created, so a full collection costs about
what one request allocated. In a process that forks (the Celery prefork pool, a WSGI server that
loads the application before forking) the frozen objects are also never written by the collector, so
their memory pages stay shared with the parent.

Called once per process, after Django is set up: config/wsgi.py, config/asgi.py, the Celery worker's
start (config/celery.py) and the benchmarks, which time what a web process does.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Finish start-up, then exempt every object alive now from cyclic collection; returns how many."""
    from django.urls import get_resolver

    # Imports every view, serializer and admin module, and builds the patterns the first request would.
    get_resolver().url_patterns  # noqa: B018  (a cached property: reading it is the work)
    gc.collect()  # start-up's own cycles go now; frozen garbage would never be freed
    gc.freeze()
    return gc.get_freeze_count()
