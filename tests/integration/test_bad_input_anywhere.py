"""NUL characters, undecodable text and out-of-range times anywhere in a request are a 400, never a 500.

PostgreSQL cannot hold U+0000 nor a time-zone offset past ±15:59, so on it each of these was a 500; on
SQLite they passed silently. The same requests must be refused the same way on both.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from engine.models import TemplateVersion, Transition, WorkflowInstance
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


@pytest.fixture
def instance(broker) -> WorkflowInstance:
    template_load(document=REVIEW, publish=True)
    return start_instance("review", {}, business_key="k1", actor=Actor("test"))


@pytest.fixture
def admin() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def api_error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "extra"} and body["message"]
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/api/templates/%00/",
        "/api/templates/review/versions/1/%00/",
        "/api/instances/?business_key=%00",
        "/api/instances/?template=a%00b",
        "/api/instances/?%00=x",
        "/api/dead-letters/?phase_id=%00",
        "/api/instances/?template=%ff",
    ],
)
def test_nul_or_undecodable_text_in_an_api_url_is_400_in_the_error_shape(instance, admin, path):
    body = api_error(admin.get(path))
    assert body["code"] == "bad_request"


def test_nul_in_the_url_of_a_phase_or_signal_is_400(instance, admin):
    assert api_error(admin.get(f"/api/instances/{instance.pk}/phases/%00/"))["code"] == "bad_request"
    signal = admin.post(f"/api/instances/{instance.pk}/signals/a%00/", "{}", content_type="application/json")
    api_error(signal)


@pytest.mark.parametrize(
    "path",
    [
        "/workflows/?q=%00",
        "/workflows/?template=%00",
        "/inbox/?q=%00",
        "/workflows/%00/",
        "/admin/engine/workflowinstance/?state=%00",
        "/admin/engine/workflowinstance/?q=%ff",
    ],
)
def test_nul_or_undecodable_text_in_a_page_url_is_400(instance, admin, path):
    response = admin.get(path)
    assert response.status_code == 400
    assert b"NUL" in response.content or b"UTF-8" in response.content


def test_form_fields_with_nul_or_undecodable_text_are_400(instance, admin):
    login = Client(raise_request_exception=False).post(
        "/accounts/login/", {"username": "a\x00b", "password": "x"}
    )
    assert login.status_code == 400
    raw = admin.post(
        f"/workflows/{instance.pk}/comments/",
        b"body=%ff%fe",
        content_type="application/x-www-form-urlencoded",
    )
    assert raw.status_code == 400
    multipart = admin.post(f"/workflows/{instance.pk}/comments/", {"body": "x\x00"})
    assert multipart.status_code == 400
    assert Transition.objects.filter(name="comment").count() == 0


def test_a_json_body_with_a_nul_escape_is_400_but_an_escaped_backslash_is_text(instance, admin):
    url = f"/api/instances/{instance.pk}/signals/go/"
    for raw in ('{"a": "x\\u0000"}', '{"a\\u0000": 1}', '["\\\\\\u0000"]'):
        api_error(admin.post(url, raw, content_type="application/json"))
    # `\\u0000` is a backslash followed by the text "u0000": no NUL, so it reaches the view (409: no wait).
    text = admin.post(url, '{"a": "\\\\u0000"}', content_type="application/json")
    assert text.status_code == 409


def test_the_designers_save_refuses_a_document_with_nul(instance, admin):
    document = {**REVIEW, "name": "Re\x00view"}
    response = admin.post(
        reverse("admin:engine_workflowtemplate_design_save"),
        json.dumps({"document": document, "notes": ""}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert TemplateVersion.objects.filter(template__key="review").count() == 1


@pytest.mark.parametrize("offset", ["+23:00", "-16:00", "+15:59", "-23:59"])
def test_created_after_takes_any_offset_python_parses(instance, admin, offset):
    before = admin.get("/api/instances/", {"created_after": f"2020-01-01T00:00:00{offset}"})
    after = admin.get("/api/instances/", {"created_after": f"9000-01-01T00:00:00{offset}"})
    assert before.status_code == after.status_code == 200
    assert [row["id"] for row in before.json()["results"]] == [str(instance.pk)]
    assert after.json()["results"] == []


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2020-13-01T00:00:00Z", "soon"]
)
def test_created_after_out_of_range_is_400(instance, admin, value):
    body = api_error(admin.get("/api/instances/", {"created_before": value}))
    assert "created_before" in body["message"]


def test_retrying_a_failed_instance_whose_business_key_is_taken_again_is_409(broker, admin):
    flaky = {
        "format": "phasegate/v1",
        "key": "flaky",
        "name": "Flaky",
        "phases": [
            {"id": "fetch", "type": "task", "activity": "test.flaky", "retry": {"max_attempts": 1}},
        ],
    }
    flaky["phases"][0]["input"] = {"fail_times": "1"}
    template_load(document=flaky, publish=True)
    failed = start_instance("flaky", {}, business_key="week-7", actor=Actor("test"))
    broker.drain()
    failed.refresh_from_db()
    assert failed.state == "failed"
    holder = start_instance("flaky", {}, business_key="week-7", actor=Actor("test"))
    assert holder.pk != failed.pk and holder.state == "running"
    audit = Transition.objects.count()
    for path in ("retry/", "phases/fetch/retry/", "phases/fetch/reopen/"):
        response = admin.post(
            f"/api/instances/{failed.pk}/{path}", {"reason": "again"}, content_type="application/json"
        )
        body = api_error(response, 409)
        assert body["code"] == "conflict" and body["extra"]["holder"] == str(holder.pk), path
    failed.refresh_from_db()
    assert failed.state == "failed"
    assert Transition.objects.count() == audit
