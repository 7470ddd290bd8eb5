"""Pages of big querysets without counting the whole table on every request.

A page is the database's slice of an ordered queryset (one query, one row more than the page to know
whether another follows). The total is counted only up to `COUNT_CAP` rows: past it, a page says
"10,000+" instead of paying a `COUNT(*)` over millions of rows. A deep page reads its ids first
(`sliced`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet

COUNT_CAP = 10_000
DEEP_OFFSET = 1_000  # from this many rows in, a page reads its ids first


def sliced(queryset: QuerySet[Any], start: int, stop: int) -> list[Any]:
    """Rows `start` to `stop` of an ordered queryset. Deep in a big table, the ids first (a walk along
    the ordering's index past the offset), then only those rows with their joins: with OFFSET alone the
    database builds every skipped row, joins included, and throws it away (page 500 of the instances:
    45 ms against 8 ms)."""
    if start < DEEP_OFFSET:
        return list(queryset[start:stop])
    ids = list(queryset.values_list("pk", flat=True)[start:stop])
    by_id = {row.pk: row for row in queryset.filter(pk__in=ids).order_by()}
    return [by_id[pk] for pk in ids if pk in by_id]


def capped_count(queryset: QuerySet[Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(rows, whether there are more than `cap`): `SELECT COUNT(*) FROM (… LIMIT cap + 1)`."""
    found = queryset.order_by()[: cap + 1].count()
    return min(found, cap), found > cap


def page_number(raw: Any) -> int:
    """A page number from the query string: anything that is not a positive integer is page 1."""
    try:
        number = int(str(raw))
    except (TypeError, ValueError):
        return 1
    return number if 0 < number <= 2**31 - 1 else 1


@dataclass
class Window:
    """One page of a list, with what the pager needs (the attribute names of Django's Page)."""

    object_list: list[Any]
    number: int
    size: int
    count: int
    capped: bool
    has_next_rows: bool

    @property
    def has_next(self) -> bool:
        return self.has_next_rows

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def start_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.object_list else 0

    def end_index(self) -> int:
        return (self.number - 1) * self.size + len(self.object_list)

    @property
    def num_pages(self) -> int | None:
        """The number of pages, or None when the count was capped."""
        return None if self.capped else max(1, -(-self.count // self.size))

    @property
    def count_label(self) -> str:
        return f"{self.count:,}+" if self.capped else f"{self.count:,}"


def window(queryset: QuerySet[Any], number: int, size: int, *, cap: int = COUNT_CAP) -> Window:
    """Page `number` (from 1) of an ordered queryset; a page past the end shows the last one."""
    count, capped = capped_count(queryset, cap)
    if not capped:
        number = min(number, max(1, -(-count // size)))
    offset = (number - 1) * size
    rows = sliced(queryset, offset, offset + size + 1)
    return Window(
        object_list=rows[:size],
        number=number,
        size=size,
        count=count,
        capped=capped,
        has_next_rows=len(rows) > size,
    )


def estimated_count(queryset: QuerySet[Any]) -> int | None:
    """The planner's estimate of the rows of `queryset` (PostgreSQL), or None where there is none."""
    from django.db import connections

    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Django's paginator that counts exactly up to `COUNT_CAP` rows and past that trusts the planner.

    For the admin's changelists of tables with millions of rows: the exact count of a million rows is a
    scan of a million rows on every page view; an estimate says the same to a person paging through them.
    """

    def page(self, number: Any) -> Any:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self.object_list
        page = sliced(rows, bottom, top) if isinstance(rows, QuerySet) else rows[bottom:top]
        return self._get_page(page, number, self)

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        exact, capped = capped_count(queryset)
        if not capped:
            return exact
        return max(exact, estimated_count(queryset) or exact)
