"""Basic authentication that names its realm in the `WWW-Authenticate` challenge, answers a sign-in locked
by django-axes with 429 and Retry-After (in the API's error shape) rather than 401, and clears the failure
count on success as the login forms do (DRF never sends `user_logged_in`, which axes listens to)."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_client_ip_address, get_cool_off
from axes.utils import reset
from django.conf import settings
from drf_spectacular import authentication as drf_spectacular_basic
from rest_framework import authentication, exceptions, status

from engine.lockout import lockout_message


class LockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_attempts"

    def __init__(self, detail: str, wait: int | None) -> None:
        super().__init__(detail)
        self.wait = wait  # DRF's handler turns it into Retry-After


class BasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic for the API, challenging with `Basic realm="phasegate"`."""

    www_authenticate_realm = "phasegate"

    def authenticate_credentials(self, userid: str, password: str, request: Any = None) -> Any:
        try:
            found = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            # Django's authenticate() swallows the axes backend's refusal; the flag it set says it happened.
            if not getattr(request, "axes_locked_out", False):
                raise
            cool_off = get_cool_off(request)
            seconds = int(cool_off.total_seconds()) if cool_off else None
            raise LockedOut(lockout_message(seconds), seconds) from None
        if settings.AXES_RESET_ON_SUCCESS:
            reset(ip=get_client_ip_address(request), username=userid)
        return found


class BasicScheme(drf_spectacular_basic.BasicScheme):
    """The OpenAPI schema's `basicAuth` for this class (drf-spectacular matches classes by path)."""

    target_class = "engine.api.authentication.BasicAuthentication"
