"""What a client that failed to sign in too often gets from django-axes: 429 with Retry-After, in the
API's error shape under /api/, as a short text page elsewhere (the login form, the admin's)."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse

STATUS = 429


def lockout_message(seconds: int | None) -> str:
    wait = (
        f"try again in {max(seconds // 60, 1)} minute(s)" if seconds else "ask an administrator to unlock it"
    )
    return f"too many failed sign-in attempts for this account from this address; {wait}"


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = max(int(cool_off.total_seconds()), 1) if cool_off else None
    wait = (
        f"try again in {max(seconds // 60, 1)} minute(s)" if seconds else "ask an administrator to unlock it"
    )
    message = f"too many failed sign-in attempts for this account from this address; {wait}"
    response: HttpResponse
    if request.path_info.startswith("/api/"):
        extra = {"retry_after": seconds} if seconds else {}
        response = JsonResponse(
            {"code": "too_many_attempts", "message": message, "extra": extra}, status=STATUS
        )
    else:
        response = HttpResponse(
            message[0].upper() + message[1:] + ".", status=STATUS, content_type="text/plain"
        )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
