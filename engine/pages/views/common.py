"""What every page view shares: engine errors shown as pages with their own status, never as a 500."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from engine.errors import Conflict, engine_error

View = Callable[..., HttpResponse]


def error_page(request: HttpRequest, *, status: int, title: str, message: str, **extra: Any) -> HttpResponse:
    context = {"status": status, "title": title, "message": message, "back": safe_next(request), **extra}
    return render(request, "pages/error.html", context, status=status)


TITLES = {403: "Not allowed", 409: "That is no longer possible"}


def engine_errors(view: View) -> View:
    """Turn the engine's refusals into pages with the status each error carries: 403, 404, 409."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            error = engine_error(exc)
            if error is None:
                raise
            if error.status == 404:
                raise Http404(error.message) from None
            holder = error.extra.get("holder")
            title = "Someone else got there first" if isinstance(error, Conflict) else ""
            return error_page(
                request,
                status=error.status,
                title=title or TITLES.get(error.status, "Could not do that"),
                message=error.message,
                **({"holder": holder} if holder else {}),
            )

    return wrapper


def safe_next(request: HttpRequest, default: str = "") -> str:
    """The `next` the form asked to go back to, when it stays on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
