"""Who may do what: each role and a user without roles, against each action; allowed, 403, or 409.

planning needs tester or test_manager; data_provider_id needs cdo. "assigned" holds tester through a
role assignment on this instance only. Staff and superusers get no way around roles here (only through
the overrides, which have their own tests).
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import pytest
from django.urls import reverse

from engine.errors import Conflict, PermissionDenied
from engine.models import RoleAssignment
from engine.runtime import human
from engine.services import overrides
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    people,
    run_of,
    start,
)

pytestmark = pytest.mark.django_db

ALLOWED, FORBIDDEN, CONFLICT = "allowed", 403, 409


@pytest.fixture
def instance(dt_testing, people):
    instance = start(user=people["manager"])
    RoleAssignment.objects.create(instance=instance, role="tester", user=people["staff"])
    return instance


def outcome(call):
    try:
        call()
    except PermissionDenied:
        return FORBIDDEN
    except Conflict:
        return CONFLICT
    return ALLOWED


CLAIM_PLANNING = {
    "tester": ALLOWED,
    "manager": ALLOWED,
    "cdo": FORBIDDEN,
    "outsider": FORBIDDEN,
    "admin": FORBIDDEN,
    "staff": ALLOWED,  # through the instance's role assignment, not because of is_staff
}


@pytest.mark.parametrize(("who", "expected"), CLAIM_PLANNING.items())
def test_claim_planning(instance, people, who, expected):
    result = outcome(
        lambda: human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people[who])
    )
    assert result == expected


@pytest.mark.parametrize(("who", "expected"), CLAIM_PLANNING.items())
def test_complete_planning(instance, people, who, expected):
    result = outcome(
        lambda: human.phase_complete(
            instance_id=instance.pk, phase_id="planning", user=people[who], data={"plan_url": PLAN_URL}
        )
    )
    assert result == expected


@pytest.mark.parametrize(
    ("who", "expected"),
    {
        "tester": FORBIDDEN,
        "manager": FORBIDDEN,
        "cdo": ALLOWED,
        "outsider": FORBIDDEN,
        "admin": FORBIDDEN,
    }.items(),
)
def test_claim_data_provider_identification(instance, people, who, expected):
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    human.phase_complete(
        instance_id=instance.pk, phase_id="scoping", user=people["tester"], outcome="approved"
    )
    result = outcome(
        lambda: human.phase_claim(instance_id=instance.pk, phase_id="data_provider_id", user=people[who])
    )
    assert result == expected


@pytest.mark.parametrize(
    ("who", "expected"),
    {
        "tester": ALLOWED,  # the holder
        "tester2": CONFLICT,  # has the role, but tester holds it
        "manager": ALLOWED,  # a manager role
        "admin": ALLOWED,  # an administrator (override permission)
        "cdo": FORBIDDEN,
        "outsider": FORBIDDEN,
    }.items(),
)
def test_release_a_phase_tester_holds(instance, people, who, expected):
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    result = outcome(
        lambda: human.phase_release(instance_id=instance.pk, phase_id="planning", user=people[who])
    )
    assert result == expected


@pytest.mark.parametrize(
    ("who", "expected"),
    {
        "manager": ALLOWED,
        "admin": ALLOWED,
        "tester": FORBIDDEN,
        "cdo": FORBIDDEN,
        "outsider": FORBIDDEN,
        "staff": FORBIDDEN,
    }.items(),
)
def test_assign_planning(instance, people, who, expected):
    result = outcome(
        lambda: human.phase_assign(
            instance_id=instance.pk, phase_id="planning", user=people[who], assignee=people["tester2"]
        )
    )
    assert result == expected


@pytest.mark.parametrize(
    ("who", "expected"),
    {
        "admin": ALLOWED,
        "manager": FORBIDDEN,
        "tester": FORBIDDEN,
        "staff": FORBIDDEN,
        "outsider": FORBIDDEN,
    }.items(),
)
def test_override_skip(instance, people, who, expected):
    result = outcome(
        lambda: overrides.phase_skip(
            instance_id=instance.pk, phase_id="planning", user=people[who], reason="not needed"
        )
    )
    assert result == expected


def test_complete_of_a_phase_someone_else_holds_is_a_conflict(instance, people):
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    with pytest.raises(Conflict) as caught:
        human.phase_complete(
            instance_id=instance.pk, phase_id="planning", user=people["tester2"], data={"plan_url": PLAN_URL}
        )
    assert caught.value.extra["holder"] == "tester"
    assert run_of(instance, "planning").state == "active"


# --- the same rules over HTTP -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    {"tester": 200, "manager": 200, "cdo": 200, "staff": 200, "admin": 200, "outsider": 403}.items(),
)
def test_progress_page_visibility(client, instance, people, who, expected):
    client.force_login(people[who])
    response = client.get(reverse("pages:workflow_detail", args=[instance.pk]))
    assert response.status_code == expected


def test_the_starter_sees_the_instance_without_any_role(client, dt_testing, people):
    instance = start(user=people["outsider"])
    client.force_login(people["outsider"])
    assert client.get(reverse("pages:workflow_detail", args=[instance.pk])).status_code == 200


@pytest.mark.parametrize(
    ("who", "expected"), {"tester": 302, "cdo": 403, "outsider": 403, "admin": 403}.items()
)
def test_claim_over_http(client, instance, people, who, expected):
    client.force_login(people[who])
    response = client.post(reverse("pages:phase_claim", args=[instance.pk, "planning"]))
    assert response.status_code == expected


def test_claim_over_http_of_a_held_phase_is_409_with_the_holder(client, instance, people):
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    client.force_login(people["tester2"])
    response = client.post(reverse("pages:phase_claim", args=[instance.pk, "planning"]))
    assert response.status_code == 409
    assert "held by tester" in response.content.decode()


def test_pages_need_a_login(client, instance):
    for url in (
        reverse("pages:inbox"),
        reverse("pages:workflow_list"),
        reverse("pages:workflow_detail", args=[instance.pk]),
        reverse("pages:phase_detail", args=[instance.pk, "planning"]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
