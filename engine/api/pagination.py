"""Page numbers for the list endpoints, without counting millions of rows on every request.

`count` is exact up to 10,000 rows; past that it is PostgreSQL's planner estimate (a list of 100,000
instances says about 100,000). Pages are the database's slices, so a deep page costs an index walk, not
a count.
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

from engine.paging import EstimatedCountPaginator


class Pagination(PageNumberPagination):
    django_paginator_class = EstimatedCountPaginator
