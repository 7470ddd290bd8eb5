"""Every POST endpoint answers malformed input with a 4xx in the error shape and changes nothing."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from engine.models import DeadLetter, TemplateVersion, Transition, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

REVIEW = {
    "format": "phasegate/v1",
    "key": "review",
    "name": "Review",
    "roles": {"reviewer": {"name": "Reviewer"}},
    "phases": [{"id": "draft", "type": "human", "roles": ["reviewer"]}],
}
FLAKY = {
    "format": "phasegate/v1",
    "key": "flaky",
    "name": "Flaky",
    "phases": [
        {
            "id": "fetch",
            "type": "task",
            "activity": "test.flaky",
            "retry": {"max_attempts": 1},
            "input": {"fail_times": "1", "kind": "'data'"},
        }
    ],
}

WRONG_REASON = [
    {"reason": ["a list"]},
    {"reason": {"an": "object"}},
    {"reason": None},
    {"reason": "x" * 2001},
]

# Malformed bodies every endpoint refuses, whatever fields it expects.
MALFORMED = {
    "a list": "[1, 2]",
    "a string": '"just text"',
    "a number": "42",
    "invalid JSON": '{"reason": ',
    "NaN": '{"reason": NaN}',
    "a NUL character": '{"reason": "a\\u0000b"}',
    "nested too deeply": "[" * 100_000 + "]" * 100_000,
}


@pytest.fixture
def world(broker) -> dict:
    template_load(document=REVIEW, publish=True)
    template_load(document={**REVIEW, "description": "next"})  # v2, a draft
    template_load(document=FLAKY, publish=True)
    review = start_instance("review", {}, actor=Actor("test"))
    flaky = start_instance("flaky", {}, actor=Actor("test"))
    broker.drain()
    return {
        "review": review,
        "letter": DeadLetter.objects.get(instance=flaky),
        "transitions": Transition.objects.count(),
    }


def endpoints(world: dict) -> dict[str, list[dict]]:
    """Each POST endpoint with bodies of the right shape but wrong field types."""
    i, d = world["review"].pk, world["letter"].pk
    reason = {f"/api/instances/{i}/{op}/": WRONG_REASON for op in ("cancel", "suspend", "resume", "retry")}
    reason |= {f"/api/instances/{i}/phases/draft/{op}/": WRONG_REASON for op in ("retry", "skip", "reopen")}
    reason |= {f"/api/dead-letters/{d}/{op}/": WRONG_REASON for op in ("retry", "discard")}
    phase = f"/api/instances/{i}/phases/draft/"
    human = {
        phase + "claim/": [],
        phase + "release/": [{"reason": ["x"]}, {"reason": {"a": 1}}],
        phase + "assign/": [{"assignee": ["x"]}, {"assignee": "ghost"}, {"assignee": 5}, {}],
        phase + "complete/": [{"data": [1]}, {"data": "x"}, {"outcome": ["a"]}, {"reason": []}],
        phase + "comment/": [{"body": ["x"]}, {"body": ""}, {"body": None}, {}, {"body": "x" * 10_001}],
        phase + "force-complete/": [
            *WRONG_REASON,
            {"reason": "x", "data": [1]},
            {"reason": "x", "outcome": {}},
        ],
        phase + "reassign/": [*WRONG_REASON, {"reason": "x"}, {"reason": "x", "assignee": ["a"]}],
        phase + "extend-sla/": [
            *WRONG_REASON,
            {"reason": "x"},
            {"reason": "x", "due_at": "tomorrow"},
            {"reason": "x", "due_at": 5},
            {"reason": "x", "due_at": "2020-01-01T00:00:00Z"},
        ],
    }
    return {
        "/api/templates/": [{"key": 5, "name": "x"}, {"key": None}, {"key": ["review"]}],
        "/api/templates/review/versions/2/publish/": [],
        "/api/templates/flaky/versions/1/retire/": [],
        "/api/instances/": [
            {"template": ["review"]},
            {"template": "review", "params": [1]},
            {"template": "review", "params": "x"},
            {"template": "review", "version": "one"},
            {"template": "review", "version": 0},
            {"template": "review", "version": 10**30},
            {"template": "review", "business_key": {"a": 1}},
            {"template": "review", "business_key": "k" * 201},
            {"params": {}},
        ],
        f"/api/instances/{i}/signals/go/": [],
        **reason,
        **human,
    }


@pytest.fixture
def admin() -> APIClient:
    client = APIClient()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def assert_error(response, *, status: int, where: object = "") -> None:
    assert response.status_code == status, (where, response.status_code, response.content[:300])
    body = response.json()
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["extra"], dict)


def nothing_changed(world: dict) -> None:
    assert TemplateVersion.objects.get(template__key="review", number=2).state == "draft"
    assert TemplateVersion.objects.get(template__key="flaky", number=1).state == "published"
    assert WorkflowInstance.objects.get(pk=world["review"].pk).state == "running"
    assert WorkflowInstance.objects.count() == 2
    assert DeadLetter.objects.get().state == "open"
    assert Transition.objects.count() == world["transitions"]


def test_malformed_bodies_are_refused_everywhere(world, admin):
    for url in endpoints(world):
        for name, raw in MALFORMED.items():
            response = admin.post(url, raw, content_type="application/json")
            assert_error(response, status=400, where=(url, name))
    nothing_changed(world)


def test_wrong_field_types_are_refused_everywhere(world, admin):
    for url, bodies in endpoints(world).items():
        for body in bodies:
            assert_error(admin.post(url, body, format="json"), status=400, where=(url, body))
    nothing_changed(world)


def test_other_media_types_are_refused(world, admin):
    for url in endpoints(world):
        form = admin.post(url, "reason=x", content_type="application/x-www-form-urlencoded")
        assert_error(form, status=415, where=url)
        assert_error(admin.post(url, b"\xff\xfe", content_type="application/json"), status=400, where=url)
    nothing_changed(world)


def test_a_body_over_the_upload_limit_is_413(world, admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = json.dumps({"reason": "x" * 20_000})
    for url in [*endpoints(world), "/api/templates/validate/"]:
        assert_error(admin.post(url, big, content_type="application/json"), status=413, where=url)
    nothing_changed(world)


def test_a_body_over_the_default_limit_is_413(world, admin):
    big = json.dumps({"template": "review", "params": {"blob": "x" * 3_000_000}})
    assert_error(admin.post("/api/instances/", big, content_type="application/json"), status=413)


def test_validate_answers_any_json_with_200_and_refuses_only_what_is_not_json(world, admin):
    for name, raw in MALFORMED.items():
        response = admin.post("/api/templates/validate/", raw, content_type="application/json")
        if name in ("a list", "a string", "a number"):
            assert response.status_code == 200, name
            assert response.json()["valid"] is False
        else:
            assert_error(response, status=400, where=name)


def test_unknown_ids_in_post_urls_are_404(world, admin):
    for url in (
        "/api/templates/nope/versions/1/publish/",
        "/api/templates/review/versions/99999999999999999999/retire/",
        "/api/instances/00000000-0000-0000-0000-000000000000/cancel/",
        "/api/instances/not-a-uuid/cancel/",
        f"/api/instances/{world['review'].pk}/phases/nope/skip/",
        f"/api/instances/{world['review'].pk}/phases/nope/claim/",
        f"/api/instances/{world['review'].pk}/phases/nope/comment/",
        "/api/dead-letters/99999999999999999999/retry/",
    ):
        response = admin.post(url, {"reason": "x", "body": "x"}, format="json")
        assert response.status_code == 404, url
        if "not-a-uuid" not in url:  # no route at all: Django's own 404
            assert_error(response, status=404)
