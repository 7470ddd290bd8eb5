"""Page numbers for the list endpoints, without counting millions of rows on every request.

`count` is exact up to 10,000 rows; past that it is PostgreSQL's planner estimate (a list of 100,000
instances says about 100,000). Pages are the database's slices, so a deep page costs an index walk, not
a count. `page_size` (or its alias `limit`) asks for another page size, up to MAX_PAGE_SIZE.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from engine.paging import EstimatedCountPaginator

MAX_PAGE_SIZE = 500
PAGE_SIZE_PARAMS = ("page_size", "limit")


def requested_page_size(query: Any, default: int) -> int:
    """The page size asked for (`page_size` or `limit`), at most MAX_PAGE_SIZE; a 400 when not a number."""
    for name in PAGE_SIZE_PARAMS:
        raw = query.get(name)
        if raw in (None, ""):
            continue
        try:
            size = int(str(raw))
        except ValueError:
            raise ValidationError({name: [f"must be a whole number from 1 to {MAX_PAGE_SIZE}"]}) from None
        if size < 1:
            raise ValidationError({name: [f"must be a whole number from 1 to {MAX_PAGE_SIZE}"]})
        return min(size, MAX_PAGE_SIZE)
    return default


class Pagination(PageNumberPagination):
    django_paginator_class = EstimatedCountPaginator
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Any) -> int:
        return requested_page_size(request.query_params, self.page_size or 50)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        limit = {
            "name": "limit",
            "required": False,
            "in": "query",
            "description": f"the same as page_size (at most {MAX_PAGE_SIZE})",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        }
        return [*parameters, limit]
