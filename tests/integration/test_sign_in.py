"""Signing in: 401 with a challenge for missing or wrong API credentials, 403 only for a signed-in user
without the permission, and repeated failures throttled (django-axes) on the API and the login forms."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-1"


@pytest.fixture
def user(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    account = UserFactory(username="ada")
    account.set_password(PASSWORD)
    account.save()
    return account


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def assert_challenge(response) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == 'Basic realm="phasegate"'
    assert set(response.json()) == {"code", "message", "extra"}


def test_no_credentials_is_401_with_a_challenge(user):
    assert_challenge(Client().get("/api/instances/"))
    assert_challenge(Client().post("/api/instances/", {}, content_type="application/json"))


def test_wrong_credentials_are_401_with_a_challenge(user):
    assert_challenge(Client().get("/api/instances/", **basic("ada", "wrong")))
    assert_challenge(Client().get("/api/instances/", **basic("nobody", "wrong")))
    assert_challenge(Client().get("/api/instances/", HTTP_AUTHORIZATION="Token not-a-token"))


def test_signed_in_without_the_permission_is_403(user):
    response = Client().post(
        "/api/templates/x/versions/1/publish/", {}, content_type="application/json", **basic("ada", PASSWORD)
    )
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


def test_repeated_wrong_api_passwords_lock_that_user_out_from_that_address(user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert_challenge(Client().get("/api/instances/", **basic("ada", "wrong")))
    locked = Client().get("/api/instances/", **basic("ada", "wrong"))  # the limit-th failure locks at once
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    # Even the right password waits now; another account from the same address does not.
    assert Client().get("/api/instances/", **basic("ada", PASSWORD)).status_code == 429
    assert_challenge(Client().get("/api/instances/", **basic("grace", "wrong")))


def test_a_success_clears_the_count(user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert_challenge(Client().get("/api/instances/", **basic("ada", "wrong")))
    assert Client().get("/api/instances/", **basic("ada", PASSWORD)).status_code == 200
    assert_challenge(Client().get("/api/instances/", **basic("ada", "wrong")))


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_login_forms_are_throttled_too(user, settings, path):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = Client().post(path, {"username": "ada", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    # The limit-th failure locks the pair out at once; then even the right password is refused.
    assert Client().post(path, {"username": "ada", "password": "wrong"}).status_code == 429
    locked = Client().post(path, {"username": "ada", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Retry-After" in locked
    assert b"too many failed sign-in attempts" in locked.content.lower()
