"""What every page view shares: engine errors shown as pages (403, 404, 409), never as a 500."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from engine.errors import Conflict, NotFound, PermissionDenied, TransitionRejected

View = Callable[..., HttpResponse]


def error_page(request: HttpRequest, *, status: int, title: str, message: str, **extra: Any) -> HttpResponse:
    context = {"status": status, "title": title, "message": message, "back": safe_next(request), **extra}
    return render(request, "pages/error.html", context, status=status)


def engine_errors(view: View) -> View:
    """Turn the engine's refusals into pages: 403 not allowed, 404, 409 someone got there first."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None
        except PermissionDenied as exc:
            return error_page(request, status=403, title="Not allowed", message=exc.message)
        except Conflict as exc:
            return error_page(
                request,
                status=409,
                title="Someone else got there first",
                message=exc.message,
                holder=exc.extra.get("holder"),
            )
        except TransitionRejected as exc:
            return error_page(request, status=409, title="That is no longer possible", message=exc.message)
        except (ConcurrentTransition, TransitionNotAllowed):
            return error_page(
                request,
                status=409,
                title="Someone else got there first",
                message="Someone else changed this while you were looking at it. Reload and try again.",
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
