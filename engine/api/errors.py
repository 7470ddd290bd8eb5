"""One exception handler for the API: every error is `{"code", "message", "extra"}` with a fitting status."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as html_server_error
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.database import is_busy
from engine import errors


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


RETRY_AFTER_SECONDS = 5


def database_error_body(exc: BaseException) -> tuple[dict[str, Any], int] | None:
    """The API's answer to a database that is down or too busy: 503 with a code, or None for other errors."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    if is_busy(exc):
        body = error_body("database_busy", "the database is busy; try again in a few seconds")
    else:
        body = error_body("database_unavailable", "the database cannot be reached; try again shortly")
    return body, status.HTTP_503_SERVICE_UNAVAILABLE


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: API paths keep the error shape (503 when the database is out), pages get the HTML page."""
    if not request.path.startswith("/api/"):
        return html_server_error(request)
    exc = sys.exc_info()[1]
    answer = database_error_body(exc) if isinstance(exc, DatabaseError) else None
    if answer is None:
        return JsonResponse(error_body("server_error", "internal error"), status=500)
    response = JsonResponse(answer[0], status=answer[1])
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    database = database_error_body(exc)
    if database is not None:
        return Response(database[0], status=database[1], headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    engine = errors.engine_error(exc)
    if engine is not None:
        return Response(error_body(engine.code, engine.message, engine.extra), status=engine.status)
    if isinstance(exc, ObjectDoesNotExist):
        return Response(error_body("not_found", "not found"), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        message = "the request body is larger than the server accepts"
        return Response(error_body("too_large", message), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        return Response(
            error_body("bad_request", str(exc) or "bad request"), status=status.HTTP_400_BAD_REQUEST
        )
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, ValidationError):
            message = first_error(detail) or "invalid request"
        else:
            message = (
                detail.get("detail", "invalid request") if isinstance(detail, dict) else "invalid request"
            )
        extra = {} if isinstance(detail, dict) and set(detail) == {"detail"} else {"fields": detail}
        response.data = error_body(str(getattr(message, "code", code)), str(message), extra)
    return response


def first_error(detail: Any, prefix: str = "") -> str:
    """The first message of a DRF validation error, prefixed with the field it belongs to."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "detail") else str(key)
            found = first_error(value, f"{prefix}.{name}" if prefix and name else prefix or name)
            if found:
                return found
        return ""
    if isinstance(detail, list):
        for value in detail:
            found = first_error(value, prefix)
            if found:
                return found
        return ""
    return f"{prefix}: {detail}" if prefix else str(detail)
