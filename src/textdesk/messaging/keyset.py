"""Keyset pagination: a page is "the next N rows after this one" in a fixed order, never "skip N rows".

A page costs the same at row 50 and at row 500,000: the cursor names the last row shown (its sort value and
id), and the next page starts right after it, on the index that serves the sort. The order is always total
(sort value, then id, in the same direction). A nullable sort value puts the rows without one after all the
others, in either direction, as a second segment read by id: both databases then agree on the order, and each
segment is a plain range on an index.

Cursors are opaque to clients (URL-safe base64 of a small JSON list); one that cannot be read is
:class:`BadCursor`. A list also reports a *capped* count: exact up to ``COUNT_CAP`` rows, otherwise "many".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field

from django.db.models import F, Q, QuerySet

COUNT_CAP = 1000
# A text search counts its matches by testing each message's words, not from an index: its count stops sooner.
SEARCH_COUNT_CAP = 100
KEY = "keyset_value"  # the annotation carrying each row's sort value


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Order:
    """Sort by ``path`` (a model field or a ``__`` path to one), ties broken by id in the same direction."""

    path: str
    descending: bool = True
    nullable: bool = False


@dataclass(frozen=True)
class Cursor:
    """A position: just after (``forward``) or just before the row (segment, value, id); ``start`` is that row's
    position counted from 1, for "26–50 of many"."""

    forward: bool
    null_segment: bool
    value: object
    id: int
    start: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, dt.datetime) else self.value
        raw = json.dumps([int(self.forward), int(self.null_segment), value, self.id, self.start], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, *, datetime_value: bool) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        forward, null_segment, value, row_id, start = json.loads(raw)
        if datetime_value and value is not None:
            value = dt.datetime.fromisoformat(value)
        if not isinstance(row_id, int) or not isinstance(start, int) or isinstance(value, (list, dict)):
            raise TypeError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor(token) from exc
    return Cursor(bool(forward), bool(null_segment) or value is None, value, row_id, max(start, 1))


@dataclass
class Page:
    items: list
    start: int  # position of the first item, from 1
    next_cursor: str | None = None
    previous_cursor: str | None = None
    count: int | None = None  # capped: None when more than count_cap
    count_cap: int = COUNT_CAP
    extra: dict = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.start + len(self.items) - 1

    @property
    def count_is_capped(self) -> bool:
        return self.count is None


def _segment(qs: QuerySet, order: Order, null_segment: bool, reverse: bool) -> QuerySet:
    """One segment of the order (rows with a value, or rows without), in natural or reversed direction."""
    descending = order.descending != reverse
    if null_segment:
        return qs.filter(**{f"{order.path}__isnull": True}).order_by("-id" if descending else "id")
    if order.nullable:
        qs = qs.filter(**{f"{order.path}__isnull": False})
    return qs.order_by(f"-{KEY}" if descending else KEY, "-id" if descending else "id")


def _beyond(order: Order, value, row_id: int, reverse: bool) -> Q:
    """Rows strictly after (value, id) in the natural order (before it when ``reverse``), within one segment.

    Written as ``key <= v AND (key < v OR id < i)`` rather than an OR alone, so the first half is a range
    condition on the sort index.
    """
    descending = order.descending != reverse
    if descending:
        return Q(**{f"{KEY}__lte": value}) & (Q(**{f"{KEY}__lt": value}) | Q(id__lt=row_id))
    return Q(**{f"{KEY}__gte": value}) & (Q(**{f"{KEY}__gt": value}) | Q(id__gt=row_id))


def _after_id(order: Order, row_id: int, reverse: bool) -> Q:
    return Q(id__lt=row_id) if order.descending != reverse else Q(id__gt=row_id)


def _value_of(row, order: Order):
    return getattr(row, KEY)


def paginate(
    qs: QuerySet,
    order: Order,
    limit: int,
    cursor: Cursor | None = None,
    *,
    count: bool = True,
    count_cap: int | None = None,
) -> Page:
    """One page of ``qs`` in ``order`` after (or before) ``cursor``; the first page without one. Its count is exact
    up to ``count_cap`` rows (``COUNT_CAP`` by default)."""
    qs = qs.annotate(**{KEY: F(order.path)})
    want = limit + 1
    if cursor is None or cursor.forward:
        rows: list = []
        null_phase = cursor is not None and cursor.null_segment
        if not null_phase:
            first = _segment(qs, order, False, False)
            if cursor is not None:
                first = first.filter(_beyond(order, cursor.value, cursor.id, False))
            rows = list(first[:want])
        if order.nullable and len(rows) < want:
            second = _segment(qs, order, True, False)
            if null_phase and cursor is not None:
                second = second.filter(_after_id(order, cursor.id, False))
            rows += list(second[: want - len(rows)])
        has_more = len(rows) > limit
        items = rows[:limit]
        start = cursor.start if cursor else 1
        has_previous = cursor is not None
    else:
        rows = []
        if cursor.null_segment:
            rows = list(_segment(qs, order, True, True).filter(_after_id(order, cursor.id, True))[:want])
        if len(rows) < want:
            first = _segment(qs, order, False, True)
            if not cursor.null_segment:
                first = first.filter(_beyond(order, cursor.value, cursor.id, True))
            rows += list(first[: want - len(rows)])
        has_previous = len(rows) > limit
        items = list(reversed(rows[:limit]))
        start = max(cursor.start - len(items), 1)
        has_more = True
    page = Page(items=items, start=start, count_cap=count_cap or COUNT_CAP)
    if items and has_more:
        page.next_cursor = _cursor_at(items[-1], order, True, start + len(items)).encode()
    if items and has_previous:
        page.previous_cursor = _cursor_at(items[0], order, False, start).encode()
    if count:
        page.count = _count_of(qs, page, has_more)
    return page


def _count_of(qs: QuerySet, page: Page, has_more: bool) -> int | None:
    """The capped count, without a query where the page tells it: a first page that is also the last holds the
    whole list; a page that ends past the cap is in a list of "many"."""
    if not has_more and page.start == 1:
        return len(page.items)
    if page.start - 1 + len(page.items) > page.count_cap:
        return None
    return capped_count(qs, page.count_cap)


def _cursor_at(row, order: Order, forward: bool, start: int) -> Cursor:
    value = _value_of(row, order)
    return Cursor(forward=forward, null_segment=value is None, value=value, id=row.pk, start=start)


def capped_count(qs: QuerySet, cap: int | None = None) -> int | None:
    """The number of rows when at most ``cap`` (``COUNT_CAP``), else None ("many"): the cost stays bounded."""
    cap = cap or COUNT_CAP
    n = qs.order_by().values("pk")[: cap + 1].count()
    return n if n <= cap else None


def offset_page(
    qs: QuerySet, order: Order, limit: int, offset: int, *, count: bool = True, count_cap: int | None = None
) -> Page:
    """The page at ``offset`` (for the former ``?page=``/``?offset=`` links), with cursors to go on by keyset."""
    key = F(KEY)
    ordering = key.desc(nulls_last=True) if order.descending else key.asc(nulls_last=True)
    qs = qs.annotate(**{KEY: F(order.path)})
    rows = list(qs.order_by(ordering, "-id" if order.descending else "id")[offset : offset + limit + 1])
    page = Page(items=rows[:limit], start=offset + 1, count_cap=count_cap or COUNT_CAP)
    if len(rows) > limit:
        page.next_cursor = _cursor_at(rows[limit - 1], order, True, offset + limit + 1).encode()
    if page.items and offset > 0:
        page.previous_cursor = _cursor_at(rows[0], order, False, offset + 1).encode()
    if count:
        page.count = _count_of(qs, page, len(rows) > limit)
    return page


def encode_token(values: list) -> str:
    """Any small JSON list as an opaque URL-safe token (for lists with their own kind of cursor)."""
    raw = json.dumps(values, separators=(",", ":"), default=lambda v: v.isoformat())
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor(token) from exc
    if not isinstance(values, list):
        raise BadCursor(token)
    return values
