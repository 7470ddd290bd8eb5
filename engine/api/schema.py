"""The OpenAPI schema's error responses that every operation shares, added in one place.

Views document the errors of their own use case (`errors(409)`); the ones any request can meet — bad text
refused by the middleware, missing credentials, a database outage, an unknown page — are added here.
"""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}

SHARED = {
    "400": "invalid input: a bad query parameter, or text that cannot be stored (NUL, not UTF-8)",
    "401": "no credentials, or wrong ones (see the WWW-Authenticate header)",
    "403": "signed in, but missing the permission",
    "503": "the database is down or too busy; try again after Retry-After seconds",
}
WITH_OBJECT_OR_PAGE = {"404": "no such object, or no such page of results"}
WITH_BODY = {
    "413": "the request body is too large",
    "415": "the request body is not JSON",
}


def _response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def add_shared_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: every operation documents the errors every request can get."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            shared = dict(SHARED)
            if "page" in names or any(p.get("in") == "path" for p in operation.get("parameters", [])):
                shared |= WITH_OBJECT_OR_PAGE
            if "requestBody" in operation:
                shared |= WITH_BODY
            for code, description in shared.items():
                operation["responses"].setdefault(code, _response(description))
    return result
