"""Lists paginate by page for people and by cursor for integrations walking large sets.

Page mode (default): ?page=2&page_size=50; `count` stops at MOF_COUNT_LIMIT (null beyond,
with count_exact false), so no request counts a huge table.
Cursor mode: ?cursor= (empty to start) walks by id with stable, count-free pages.
"""

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from mof.pagination import paginate, parse_id, parse_positive_int

MAX_PAGE_SIZE = 500
LARGEST_OFFSET = 2**63 - 1  # what an SQL OFFSET can take; every page beyond is empty anyway


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class PortalPagination(BasePagination):
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.cursor_mode = "cursor" in request.query_params
        if self.cursor_mode:
            self.cursor = IdCursorPagination()
            self.cursor.page_size = settings.REST_FRAMEWORK["PAGE_SIZE"]
            return self.cursor.paginate_queryset(queryset, request, view)
        size = parse_positive_int(
            request.query_params.get("page_size"), settings.REST_FRAMEWORK["PAGE_SIZE"], MAX_PAGE_SIZE
        )
        raw_page = request.query_params.get("page", "1")
        page_number = parse_id(raw_page)
        if page_number is None or page_number < 1:
            raise NotFound("Invalid page.")
        if (page_number - 1) * size > LARGEST_OFFSET:  # found by fuzzing: the database refused the offset (a 500)
            raise NotFound("Invalid page.")
        self.page = paginate(queryset, page=page_number, page_size=size)
        if not self.page.items and self.page.number > 1:
            raise NotFound("Invalid page.")
        return self.page.items

    def get_paginated_response(self, data):
        if self.cursor_mode:
            return Response(
                {
                    "count": None,
                    "count_exact": False,
                    "next": self.cursor.get_next_link(),
                    "previous": self.cursor.get_previous_link(),
                    "results": data,
                }
            )
        url = self.request.build_absolute_uri()
        nxt = replace_query_param(url, "page", self.page.number + 1) if self.page.has_next else None
        prev = None
        if self.page.has_previous:
            prev = (
                remove_query_param(url, "page")
                if self.page.number == 2
                else replace_query_param(url, "page", self.page.number - 1)
            )
        return Response(
            {
                "count": self.page.count,
                "count_exact": self.page.count_exact,
                "next": nxt,
                "previous": prev,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_exact", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "nullable": True,
                    "description": f"null when above {settings.MOF_COUNT_LIMIT}",
                },
                "count_exact": {"type": "boolean"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "required": False,
                "in": "query",
                "description": "Page number (people).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "description": f"Results per page (max {MAX_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "Cursor mode for integrations: pass an empty cursor to start, then follow `next`.",
                "schema": {"type": "string"},
            },
        ]
