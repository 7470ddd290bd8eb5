"""Fixtures and helpers shared by the phase-work tests (human, SLA, overrides, pages, access)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from engine.models import PhaseRun, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.factories import UserFactory

DT_TESTING = Path(__file__).resolve().parents[2] / "fixtures" / "templates" / "dt_testing.json"
PLAN_URL = "https://docs.example.com/plan/42"


def dt_document() -> dict[str, Any]:
    return json.loads(DT_TESTING.read_text())


def load(document: dict[str, Any]) -> None:
    template_load(document=document, publish=True)


def start(
    key: str = "dt_testing", params: dict[str, Any] | None = None, user: Any = None
) -> WorkflowInstance:
    params = params if params is not None else {"report_id": 7}
    return start_instance(key, params, actor=Actor.of(user))


def run_of(instance: WorkflowInstance, phase_id: str) -> PhaseRun:
    return PhaseRun.objects.select_related("assignee").get(instance=instance, phase_id=phase_id)


def states(instance: WorkflowInstance) -> dict[str, str]:
    return dict(PhaseRun.objects.filter(instance=instance).values_list("phase_id", "state"))


def grant(user: Any, *codenames: str) -> Any:
    found = Permission.objects.filter(content_type__app_label="engine", codename__in=codenames)
    user.user_permissions.add(*found)
    return type(user).objects.get(pk=user.pk)  # drop the permission cache


@pytest.fixture
def dt_testing(db: None) -> dict[str, Any]:
    document = dt_document()
    load(document)
    return document


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    """The default hasher is slow on purpose; tests that create users need no such protection."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(db: None, fast_passwords: None) -> dict[str, Any]:
    """A user per role of dt_testing, a second tester, one with no role, staff, and a superuser."""
    for role in ("tester", "test_manager", "cdo"):
        Group.objects.get_or_create(name=role)
    found = {
        "tester": UserFactory(username="tester", roles=["tester"]),
        "tester2": UserFactory(username="tester2", roles=["tester"]),
        "manager": UserFactory(username="manager", roles=["test_manager"]),
        "cdo": UserFactory(username="cdo", roles=["cdo"]),
        "outsider": UserFactory(username="outsider"),
        "staff": UserFactory(username="staff", is_staff=True),
        "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
    }
    return found


@pytest.fixture
def db_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine reads the database's clock, which time-machine cannot move; read Django's instead."""
    import engine.runtime.clock as clock

    original = clock.db_now
    for name, module in list(sys.modules.items()):
        if name.startswith("engine.") and getattr(module, "db_now", None) is original:
            monkeypatch.setattr(module, "db_now", lambda row=None: timezone.now())
