"""Keep the cyclic garbage collector's full collections short in every long-running process.

A web process holds some 120,000 long-lived objects (modules, classes, functions, the URL patterns, the
admin) before it serves anything. Each request allocates thousands of objects that are still alive when a
young-generation collection runs, and those survivors count towards the oldest generation whether they
die a moment later or not. Every 15-30 requests that count passes a quarter of the oldest generation and
CPython runs a full collection, which walks every long-lived object again: 85-135 ms of CPU on the
benchmark machine, about 200 ms under load, all inside one unlucky request (the p95 tail of the API at
production size). None of the start-up objects is ever garbage.

`settle()` finishes the start-up (the URL configuration, which would otherwise be imported by the first
request), collects once, and moves what is left to the collector's permanent generation (`gc.freeze()`):
later collections walk only what requests created. In a process that forks (the Celery prefork pool, a
WSGI server that loads the application before forking) the frozen objects are also never written by the
collector, so their memory pages stay shared with the parent. Called after start-up by config/wsgi.py,
config/asgi.py, the Celery worker (config/celery.py: the prefork parent before each fork, every pool
process before its first task) and the benchmarks, which time what those processes do.

`ReleaseRenderedViews` keeps what requests leave in the oldest generation small (see there): with both,
a full collection in the instances API takes 1-10 ms instead of 85-135.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def settle() -> int:
    """Finish start-up, then exempt every object alive now from cyclic collection; returns how many."""
    from django.urls import get_resolver

    # Imports every view, serializer and admin module, and builds the patterns the first request would.
    get_resolver().url_patterns  # noqa: B018  (a cached property: reading it is the work)
    gc.collect()  # start-up's own cycles go now; frozen garbage would never be freed
    gc.freeze()
    return gc.get_freeze_count()


class ReleaseRenderedViews:
    """Middleware: once an API response is rendered, its view instance lets go of the request's objects.

    A DRF view and its request point at each other, and the view holds the paginator, the page of model
    instances and the serializers, so all of a request's objects are cyclic garbage when it ends. The view
    is made first and lives through the whole request; a young collection in the middle of the request
    promotes it to an older generation, and from there, garbage or not, it keeps everything it references
    alive through every young collection until a full one: some 2,000 objects a request pile up in the
    oldest generation and each full collection walks them (20-45 ms for the instances API's page of 50).
    Emptying the view once its response is rendered, when nothing reads it any more, leaves that garbage
    to the cheap young collections.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django rendered the response before any middleware sees it (BaseHandler._get_response).
        view = (getattr(response, "renderer_context", None) or {}).get("view")
        if view is not None:
            vars(view).clear()
        return response
