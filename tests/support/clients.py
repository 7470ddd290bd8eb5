"""Signed-in test clients: one helper for the API, the pages, the admin and the designer's endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.factories import UserFactory


class SignedInClient(APIClient):
    """A client logged in as `user`; it unpacks as `(client, user)` for tests that need both."""

    user: Any

    def __iter__(self) -> Iterator[Any]:
        return iter((self, self.user))


def client_for(
    *who: Any, roles: tuple[str, ...] = (), csrf: bool = False, **user_fields: Any
) -> SignedInClient:
    """`client_for(user)` signs in an existing user; `client_for("codename", …, roles=…, is_staff=…)` makes
    one with those engine permissions and role groups first. `csrf=True` enforces CSRF checks."""
    if who and not isinstance(who[0], str):
        user, codenames = who[0], who[1:]
    else:
        user, codenames = UserFactory(roles=list(roles), **user_fields), who
    if codenames:
        perms = Permission.objects.filter(content_type__app_label="engine", codename__in=codenames)
        user.user_permissions.add(*perms)
        user = type(user).objects.get(pk=user.pk)  # drop the permission cache
    client = SignedInClient(enforce_csrf_checks=csrf)
    client.force_login(user)
    client.user = user
    return client
