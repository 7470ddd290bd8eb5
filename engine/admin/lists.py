"""Changelists of tables with millions of rows: estimated counts, filters that do not scan the table.

Django's admin counts the whole table (twice when a filter is on) and lists a plain field's filter
values with `SELECT DISTINCT` over every row; on the audit trail and the outbox each is a scan of
millions of rows per page view.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest

from engine.paging import EstimatedCountPaginator

RECENT_ROWS = 5_000


class BigTableAdmin:
    """Mixed into a ModelAdmin: an estimated total past 10,000 rows, no second count of the whole table."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


def recent_values_filter(field: str, title: str | None = None) -> type[admin.SimpleListFilter]:
    """A list filter on `field` offering the values of the newest rows (newest by id, on its index)."""

    class RecentValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            recent = model_admin.model._default_manager.order_by("-pk").values_list(field, flat=True)
            return [(value, value) for value in sorted(set(recent[:RECENT_ROWS])) if value]

        def queryset(self, request: HttpRequest, queryset: Any) -> Any:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    RecentValuesFilter.title = title or field.replace("_", " ")
    RecentValuesFilter.__name__ = f"Recent{field.title().replace('_', '')}Filter"
    return RecentValuesFilter


def as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


def exact_search(queryset: Any, term: str, lookups: dict[str, Any]) -> Any:
    """Rows where one of `lookups` ({field: value-or-None}) matches exactly; each is an index lookup."""
    if not term.strip():
        return queryset
    match = Q(pk__in=[])
    for field, value in lookups.items():
        if value is not None and value != []:
            match |= Q(**{field: value})
    return queryset.filter(match)
