"""Activities → "My text messages": the grid of conversations visible to me, and its search.

The grid pages by keyset (``?cursor=``: "the 25 after this row"), so a page costs the same deep in the list as on
top; ``?page=N`` (the former page numbers) still answers. The count is exact up to a cap, "many" above it.
With ``?search=`` the grid lists hits instead, newest first: messages whose words match (highlighted) and
conversations whose customer name or number matches.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import get_object_or_404, render

from textdesk.crm import record_types
from textdesk.crm.models import RecordType
from textdesk.domain import search as search_rules
from textdesk.messaging import keyset, search
from textdesk.messaging.visibility import visible_conversations

PAGE_SIZE = 25
SORTS = {
    "time": keyset.Order("last_message_at", nullable=True),
    "record": keyset.Order("record_type"),
    "customer": keyset.Order("customer_e164"),
    "ours": keyset.Order("sender_number__e164"),
    "status": keyset.Order("last_status"),
    "unread": keyset.Order("unread_count"),
}
RELATED = ("sender_number", *record_types.LINK_FIELDS)


def grid_filters(params, prefix: str = "") -> Q:
    """The filters (unread, number, record type) on conversations; ``prefix`` reaches them from messages."""
    q = Q()
    if params.get("unread") == "1":
        q &= Q(**{f"{prefix}unread_count__gt": 0})
    number = (params.get("number") or "").strip().replace(" ", "")
    if number:
        q &= Q(**{f"{prefix}customer_e164__contains": number}) | Q(**{f"{prefix}sender_number__e164__contains": number})
    kind = params.get("type") or ""
    if kind in RecordType.values:
        q &= Q(**{f"{prefix}record_type": kind})
    return q


def grid_queryset(user, params):
    """The grid's conversations with its filters, and the chosen sort as an order."""
    qs = visible_conversations(user).select_related(*RELATED).filter(grid_filters(params))
    sort = params.get("sort") or "-time"
    if sort.lstrip("-") not in SORTS:
        sort = "-time"
    base = SORTS[sort.lstrip("-")]
    order = keyset.Order(base.path, descending=sort.startswith("-"), nullable=base.nullable)
    return qs, order, sort


def _page(qs, order: keyset.Order, params) -> keyset.Page:
    token = params.get("cursor")
    if token:
        try:
            cursor = keyset.decode(token, datetime_value=order.path == "last_message_at")
            return keyset.paginate(qs, order, PAGE_SIZE, cursor)
        except keyset.BadCursor:
            pass  # a cursor that cannot be read (edited, or from another sort): the first page
    page_number = params.get("page")
    if page_number and page_number.isdigit() and int(page_number) > 1:
        return keyset.offset_page(qs, order, PAGE_SIZE, (int(page_number) - 1) * PAGE_SIZE)
    return keyset.paginate(qs, order, PAGE_SIZE)


def _search_page(user, query: search_rules.Query, params) -> dict:
    cursor, start = None, 1
    if params.get("cursor"):
        try:
            cursor, start = search.read_cursor(params["cursor"])
        except keyset.BadCursor:
            pass  # the first page
    found, next_cursor = search.hits(user, query, PAGE_SIZE, cursor, within=lambda prefix: grid_filters(params, prefix))
    token = search.cursor_token(next_cursor, start + len(found)) if next_cursor else None
    return {"hits": found, "start": start, "end": start + len(found) - 1, "next_cursor": token}


@login_required
def my_text_messages(request, conversation_id: int | None = None):
    opened = None
    if conversation_id is not None:
        # A conversation URL opens the pane over the grid; not visible means it does not exist.
        opened = get_object_or_404(visible_conversations(request.user), pk=conversation_id)
    query = search_rules.parse(request.GET.get("search"))
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("cursor", None)
    base_params = params.copy()
    base_params.pop("sort", None)
    context = {
        "filters": request.GET,
        "record_types": RecordType.choices,
        "query": params.urlencode(),
        "base_query": base_params.urlencode(),
        "opened": opened,
        "search": query,
    }
    if query:
        context.update(_search_page(request.user, query, request.GET), sort="-time")
    else:
        qs, order, sort = grid_queryset(request.user, request.GET)
        context.update(page=_page(qs, order, request.GET), sort=sort)
    template = "web/activities_grid.html" if request.htmx and request.htmx.target == "grid" else "web/activities.html"
    return render(request, template, context)
