"""Start-up objects are frozen out of the cyclic GC (config/heap.py) in every kind of process."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import signals
from django.test import RequestFactory
from django.urls import clear_url_caches, get_resolver
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config import heap

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session keeps an ordinary collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_takes_what_exists_out_of_the_collectors_generations(unfreeze: None) -> None:
    built_at_start = {"rows": [1, 2, 3]}
    heap.settle()
    assert not any(tracked is built_at_start for tracked in gc.get_objects())
    assert gc.get_freeze_count() > 0
    made_later = {"rows": [4]}
    assert any(tracked is made_later for tracked in gc.get_objects())


def test_settle_frees_start_up_garbage_instead_of_freezing_it(unfreeze: None) -> None:
    gc.disable()  # no collection may free the cycle before settle() does
    try:
        first, second = Node(), Node()
        first.other, second.other = second, first
        alive = weakref.ref(first)
        del first, second
        heap.settle()
    finally:
        gc.enable()
    assert alive() is None


def test_settle_loads_the_url_configuration_the_first_request_would(unfreeze: None) -> None:
    clear_url_caches()
    heap.settle()
    assert "url_patterns" in vars(get_resolver())


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_a_web_process_serves_with_its_start_up_objects_frozen(module: str) -> None:
    probe = (
        f"import gc, json, sys; import {module}; "
        "print(json.dumps([gc.get_freeze_count(), len(gc.get_objects()), 'config.urls' in sys.modules]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    frozen, still_tracked, urls_loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert urls_loaded
    assert frozen > 10_000  # Django, the engine, the admin: tens of thousands of objects
    assert still_tracked < frozen / 20


def test_every_celery_pool_process_and_the_forking_parent_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    import config.celery  # noqa: F401  (connects the receivers)

    calls: list[str] = []
    monkeypatch.setattr(heap, "settle", lambda: calls.append("settled") or 0)
    signals.worker_before_create_process.send(sender=None)
    assert calls == ["settled"]
    signals.worker_process_init.send(sender="worker@test")
    assert calls == ["settled", "settled"]


class Row:
    """Stands for a model instance on a page."""


class PageView(APIView):
    """Holds its page, as a list view's paginator does, and lives long enough to be promoted."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get(self, request: Any) -> Response:
        self.page = [Row() for _ in range(50)]
        self.rows = [weakref.ref(row) for row in self.page]
        gc.collect(1)  # a young collection mid-request: the view and its page move to the oldest generation
        return Response({"rows": len(self.page)})


def test_a_rendered_api_view_lets_go_of_its_page_without_waiting_for_a_full_collection() -> None:
    def rendered(request: Any) -> Any:
        response = PageView.as_view()(request)
        response.render()
        rows.extend(response.renderer_context["view"].rows)
        return response

    rows: list[weakref.ref[Row]] = []
    response = heap.ReleaseRenderedViews(rendered)(RequestFactory().get("/page/"))

    assert response.status_code == 200 and b'"rows":50' in response.content
    assert vars(response.renderer_context["view"]) == {}
    assert all(row() is None for row in rows)  # freed by reference counting, no collection needed


def test_without_the_release_an_old_view_keeps_its_page_through_young_collections() -> None:
    response = PageView.as_view()(RequestFactory().get("/page/")).render()
    rows = response.renderer_context["view"].rows
    del response
    gc.collect(1)
    assert all(row() is not None for row in rows)  # what the middleware spares the full collections
    gc.collect()
    assert all(row() is None for row in rows)
