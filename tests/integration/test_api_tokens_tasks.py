"""Programs over the API: token authentication, /api/tasks/ (the inbox), page sizes, the docs page."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REVIEW = {
    "format": "phasegate/v1",
    "key": "review",
    "name": "Review",
    "roles": {"reviewer": {"name": "Reviewer"}, "manager": {"name": "Manager"}},
    "phases": [
        {"id": "check", "name": "Check the figures", "type": "human", "roles": ["reviewer"],
         "sla": {"duration": "P2D"}},
        {"id": "sign", "type": "human", "roles": ["manager"], "depends_on": ["check"]},
    ],
}  # fmt: skip


@pytest.fixture
def reviews() -> list:
    template_load(document=REVIEW, publish=True)
    return [start_instance("review", {}, business_key=f"r-{n}", actor=Actor.system("test")) for n in range(3)]


def token_client(user) -> APIClient:
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_a_token_authenticates_a_program(reviews) -> None:
    reviewer = UserFactory(username="rita", roles=["reviewer"])
    response = token_client(reviewer).get("/api/tasks/")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 3


def test_a_wrong_or_revoked_token_is_refused(reviews) -> None:
    reviewer = UserFactory(username="rita", roles=["reviewer"])
    client = token_client(reviewer)
    Token.objects.filter(user=reviewer).delete()  # revoked in the admin
    refused = client.get("/api/tasks/")
    assert refused.status_code in (401, 403)
    assert set(refused.json()) == {"code", "message", "extra"}
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get("/api/tasks/").status_code in (401, 403)


def test_tokens_are_managed_in_the_admin(client) -> None:
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 200
    target = UserFactory(username="robot")
    response = client.post("/admin/authtoken/tokenproxy/add/", {"user": target.pk})
    assert response.status_code == 302, response.content[:500]
    assert Token.objects.filter(user=target).exists()


def test_tasks_are_the_callers_inbox_with_sla_fields(reviews) -> None:
    reviewer = UserFactory(username="rita", roles=["reviewer"])
    client = APIClient()
    client.force_login(reviewer)
    body = client.get("/api/tasks/").json()
    assert body["count"] == 3 and body["page"] == 1 and body["page_size"] == 50
    assert body["roles"] == [{"key": "reviewer", "name": "Reviewer"}]
    task = body["results"][0]
    assert task["template"] == "review" and task["phase_id"] == "check"
    assert task["phase_name"] == "Check the figures"
    assert task["sla_status"] == "on_schedule" and task["due_at"] is not None
    assert task["mine"] is False and task["assignee"] is None
    assert task["roles"] == [{"key": "reviewer", "name": "Reviewer"}]
    assert task["url"] == f"/api/instances/{task['instance']}/phases/check/"
    # a manager sees only the phases of their role: none are open yet
    manager = UserFactory(username="mo", roles=["manager"])
    client.force_login(manager)
    assert client.get("/api/tasks/").json()["count"] == 0


def test_tasks_filters_and_page_size(reviews) -> None:
    reviewer = UserFactory(username="rita", roles=["reviewer"])
    client = APIClient()
    client.force_login(reviewer)
    first = client.get("/api/tasks/", {"limit": 2}).json()
    assert len(first["results"]) == 2 and first["next"] and first["previous"] is None
    second = client.get("/api/tasks/", {"page_size": 2, "page": 2}).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert {t["business_key"] for t in first["results"] + second["results"]} == {"r-0", "r-1", "r-2"}
    assert client.get("/api/tasks/", {"sla": "at_risk"}).json()["count"] == 0
    assert client.get("/api/tasks/", {"sla": "on_schedule"}).json()["count"] == 3
    assert client.get("/api/tasks/", {"template": "other"}).json()["count"] == 0
    assert client.get("/api/tasks/", {"role": "manager"}).json()["count"] == 0
    bad = client.get("/api/tasks/", {"sla": "late"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("sla:")


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_a_page_size_that_is_not_a_positive_number_is_a_400(reviews, value) -> None:
    client = APIClient()
    client.force_login(UserFactory(username="rita", roles=["reviewer"], is_staff=True))
    for url in ("/api/tasks/", "/api/instances/"):
        response = client.get(url, {"limit": value})
        assert response.status_code == 400, (url, response.content)
        assert response.json()["message"].startswith("limit:")


def test_list_endpoints_honour_limit_up_to_the_maximum(reviews) -> None:
    from engine.api.pagination import MAX_PAGE_SIZE

    client = APIClient()
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    assert len(client.get("/api/instances/", {"limit": 2}).json()["results"]) == 2
    assert len(client.get("/api/instances/", {"page_size": 1}).json()["results"]) == 1
    huge = client.get("/api/instances/", {"limit": MAX_PAGE_SIZE * 10})
    assert huge.status_code == 200 and len(huge.json()["results"]) == 3


def test_phases_carry_their_sla_in_instance_and_phase_responses(reviews) -> None:
    client = APIClient()
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    instance = reviews[0]
    detail = client.get(f"/api/instances/{instance.pk}/").json()
    check = next(phase for phase in detail["phases"] if phase["phase_id"] == "check")
    assert check["sla_status"] == "on_schedule" and check["due_at"]
    phase = client.get(f"/api/instances/{instance.pk}/phases/check/").json()
    assert phase["sla_status"] == "on_schedule" and phase["due_at"] == check["due_at"]


def test_interactive_docs_are_served_without_a_cdn(client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page.lower()
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")  # vendored, served
    assert client.get("/api/schema/").status_code == 200
