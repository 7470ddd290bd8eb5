"""One rule for every request: text that cannot be stored is refused with a 400 before any view runs.

PostgreSQL cannot store or even compare U+0000 in a text value, and Django quietly turns undecodable
percent-escapes into U+FFFD, so either one in a path, a query string, a form field or a JSON body would
otherwise reach a query and fail as a 500 (or match the wrong rows). Documents that arrive another way (a
file, a management command) meet the same rule in the template validation's limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
# A JSON `\u0000` escape is live when an even number of backslashes (escaped backslashes) precedes it.
_JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadInput(ValueError):
    """The request holds text the application cannot store."""


def _check_text(where: str, raw: bytes) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"the {where} is not valid UTF-8") from None
    if NUL in text:
        raise BadInput(f"the {where} may not contain NUL (U+0000) characters")


def _check_query(where: str, raw: bytes) -> None:
    """URL-encoded text (the query string or a form body): every key and value decodes and has no NUL."""
    _check_text(where, raw)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadInput(f"the {where} is not valid UTF-8 once decoded") from None
    except ValueError:
        raise BadInput(f"the {where} cannot be parsed") from None
    if any(NUL in key or NUL in value for key, value in pairs):
        raise BadInput(f"the {where} may not contain NUL (U+0000) characters")


def _check_body(request: HttpRequest) -> None:
    content_type = (request.content_type or "").lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if not (is_json or content_type in _FORM_TYPES):
        return  # other bodies are refused by the view that reads them (the API parses JSON only)
    if content_type == "multipart/form-data":
        # Files are checked by whoever reads them; the fields are text that reaches the database.
        if any(NUL in value for values in request.POST.lists() for value in values[1]):
            raise BadInput("form fields may not contain NUL (U+0000) characters")
        return
    try:
        body = request.body
    except RequestDataTooBig:
        return  # the view (or Django) answers that with its own 413/400
    if is_json:
        _check_text("request body", body)
        if _JSON_NUL_ESCAPE.search(body):
            raise BadInput("strings in the request may not contain NUL (U+0000) characters")
    else:
        _check_query("form body", body)


def check_request(request: HttpRequest) -> None:
    """Raise BadInput when any part of the request holds NUL or undecodable text."""
    # Django already re-escapes path bytes that are not UTF-8 (they become the text "%FF"); NUL stays NUL.
    if NUL in request.path_info:
        raise BadInput("the path may not contain NUL (U+0000) characters")
    # WSGI gives QUERY_STRING as sent, its bytes read as latin-1 (PEP 3333).
    _check_query("query string", _wsgi_bytes(request, "QUERY_STRING"))
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        _check_body(request)


def _wsgi_bytes(request: HttpRequest, key: str) -> bytes:
    value = request.META.get(key, "")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # an ASGI server, or a test client, that already decoded it
        return value.encode("utf-8", "surrogateescape")


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


class RefuseBadInputMiddleware:
    """Answers NUL characters and undecodable text anywhere in a request with a 400."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            check_request(request)
        except BadInput as exc:
            if is_api(request):
                return JsonResponse({"code": "bad_request", "message": str(exc), "extra": {}}, status=400)
            return HttpResponseBadRequest(f"Bad request: {exc}.", content_type="text/plain; charset=utf-8")
        return self.get_response(request)
