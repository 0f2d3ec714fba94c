"""Counting without counting everything: an exact COUNT(*) over a large table on every
page view is what makes the peers slow at scale. Counts stop at MOF_COUNT_LIMIT."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.paginator import Paginator
from django.utils.functional import cached_property


@dataclass
class BoundedPage:
    items: list
    number: int
    page_size: int
    count: int | None  # None: more than the limit
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def count_exact(self) -> bool:
        return self.count is not None

    @property
    def count_label(self) -> str:
        if self.count is None:
            return f"more than {settings.MOF_COUNT_LIMIT:,}"
        return f"{self.count:,}"

    @property
    def num_pages(self) -> int | None:
        if self.count is None:
            return None
        return max(1, -(-self.count // self.page_size))

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.page_size + 1 if self.items else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.page_size + len(self.items)


def bounded_count(queryset) -> int | None:
    """The number of rows, or None if there are more than MOF_COUNT_LIMIT."""
    limit = settings.MOF_COUNT_LIMIT
    count = queryset.order_by()[: limit + 1].count()
    return None if count > limit else count


DEEP_OFFSET = 2000


def paginate(queryset, *, page: int, page_size: int) -> BoundedPage:
    page = min(max(1, page), MAX_PAGE)
    offset = (page - 1) * page_size
    if offset >= DEEP_OFFSET:
        # Deep pages: skip the offset over ids alone, then load the page's rows with their
        # joins (one more query, instead of joining every skipped row).
        ids = list(queryset.values_list("pk", flat=True)[offset : offset + page_size + 1])
        found = queryset.model._default_manager.none() if not ids else queryset.filter(pk__in=ids).order_by()
        by_id = {row.pk: row for row in found}
        rows = [by_id[i] for i in ids if i in by_id]
    else:
        rows = list(queryset[offset : offset + page_size + 1])
    has_next = len(rows) > page_size
    # The last page (when it is not empty) tells the count without counting.
    count = offset + len(rows) if rows and not has_next else bounded_count(queryset)
    return BoundedPage(items=rows[:page_size], number=page, page_size=page_size, count=count, has_next=has_next)


# Beyond any page a reader can reach, and small enough that the offset fits a bigint.
MAX_PAGE = 1_000_000
# The largest value of a bigint column (PostgreSQL refuses a larger one with an error).
MAX_ID = 2**63 - 1


def parse_positive_int(value, default: int, maximum: int | None = None) -> int:
    number = parse_id(value)
    if number is None or number < 1:
        return default
    return min(number, maximum) if maximum else number


def parse_id(value) -> int | None:
    """The whole number a request parameter (an id, a reference number) spells in ASCII digits,
    or None. str.isdigit() alone lets through "²" (int() refuses it) and numbers no database
    column holds, which answered 500."""
    value = str(value if value is not None else "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= MAX_ID else None


class BoundedPaginator(Paginator):
    """Django's paginator (for the admin) with a count that stops at MOF_COUNT_LIMIT:
    beyond it, the last pages are simply not offered."""

    @cached_property
    def count(self):
        bounded = bounded_count(self.object_list)
        return settings.MOF_COUNT_LIMIT if bounded is None else bounded
