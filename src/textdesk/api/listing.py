"""How the API's big lists page: keyset cursors and capped counts (see :mod:`textdesk.messaging.keyset`).

A list answers ``{"count", "count_is_capped", "limit", "offset", "next_cursor", "items"}``: pass ``next_cursor``
back as ``?cursor=`` for the next page (``offset`` still works, for the first pages; a cursor page costs the same
at any depth). ``count`` is exact up to 1,000 rows (100 for a search by words); above, it is that cap and
``count_is_capped`` is true.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import Field, create_model

from textdesk.api.common import MAX_LIMIT, MAX_OFFSET  # one bound for every list
from textdesk.messaging import keyset


class CursorQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="rows to skip (prefer cursor beyond the first pages)")
    cursor: str | None = Field(None, description="next_cursor of the previous page")


def cursor_page_schema(item: type[Schema], name: str | None = None) -> type[Schema]:
    return create_model(
        name or f"{item.__name__.removesuffix('Out')}Page",
        __base__=Schema,
        count=(
            int,
            Field(..., description="exact up to 1000 (100 for a search by words), else that cap with count_is_capped"),
        ),
        count_is_capped=(bool, ...),
        limit=(int, ...),
        offset=(int, ...),
        next_cursor=(str | None, Field(None, description="pass as ?cursor= for the next page; null at the end")),
        items=(list[item], ...),  # type: ignore[valid-type]  # a model built at run time from its argument
    )


def page(
    qs: QuerySet, order: keyset.Order, paging: CursorQuery, convert=lambda row: row, count_cap: int | None = None
) -> dict:
    """One page of ``qs`` as the API answers it; an unreadable cursor is a 422 naming it."""
    if paging.cursor:
        try:
            cursor = keyset.decode(paging.cursor, datetime_value=order.path.endswith("_at"))
        except keyset.BadCursor:
            raise ValidationError({"cursor": _("This cursor cannot be read; use next_cursor as given.")}) from None
        if not cursor.forward:
            raise ValidationError({"cursor": _("This cursor cannot be read; use next_cursor as given.")})
        result = keyset.paginate(qs, order, paging.limit, cursor, count_cap=count_cap)
    elif paging.offset:
        result = keyset.offset_page(qs, order, paging.limit, paging.offset, count_cap=count_cap)
    else:
        result = keyset.paginate(qs, order, paging.limit, count_cap=count_cap)
    return {
        "count": result.count_cap if result.count is None else result.count,
        "count_is_capped": result.count is None,
        "limit": paging.limit,
        "offset": result.start - 1,
        "next_cursor": result.next_cursor,
        "items": [convert(row) for row in result.items],
    }
