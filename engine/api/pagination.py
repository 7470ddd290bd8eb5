"""Page numbers for the list endpoints, without counting millions of rows on every request.

`count` is exact up to 10,000 rows; past that it is PostgreSQL's planner estimate (a list of 100,000
instances says about 100,000). Pages are the database's slices, so a deep page costs an index walk, not
a count. `page_size` (or its alias `limit`) asks for another page size, up to MAX_PAGE_SIZE.

A list whose view names a `cursor_ordering` (the instances) also pages by keyset: `?cursor=` starts at the
first row and each answer's `next` and `previous` carry an opaque `cursor` (DRF's CursorPagination), so
any depth costs one index range read instead of walking past every earlier row.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response

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


class Keyset(CursorPagination):
    """DRF's cursor pages in a view's order; the first field is the position, the rest break ties."""

    def __init__(self, ordering: tuple[str, ...], page_size: int) -> None:
        self.ordering = ordering
        self.page_size = page_size


class Pagination(PageNumberPagination):
    django_paginator_class = EstimatedCountPaginator
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    keyset: Keyset | None = None

    def get_page_size(self, request: Any) -> int:
        return requested_page_size(request.query_params, self.page_size or 50)

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        ordering = getattr(view, "cursor_ordering", None)
        if ordering and Keyset.cursor_query_param in request.query_params:
            self.keyset = Keyset(ordering, self.get_page_size(request))
            self.keyset_count = EstimatedCountPaginator(queryset, 1).count
            return self.keyset.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        if self.keyset is None:
            return super().get_paginated_response(data)
        # The page-number answer's shape, so a client reads both alike.
        return Response(
            {
                "count": self.keyset_count,
                "next": self.keyset.get_next_link(),
                "previous": self.keyset.get_previous_link(),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        limit = {
            "name": "limit",
            "required": False,
            "in": "query",
            "description": f"the same as page_size (at most {MAX_PAGE_SIZE})",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        }
        if not getattr(view, "cursor_ordering", None):
            return [*parameters, limit]
        cursor = {
            "name": Keyset.cursor_query_param,
            "required": False,
            "in": "query",
            "description": "page by keyset instead of by number: empty for the first page, then the value in "
            "`next` or `previous`; every page costs the same however deep (`page` is ignored)",
            "schema": {"type": "string"},
        }
        return [*parameters, limit, cursor]
