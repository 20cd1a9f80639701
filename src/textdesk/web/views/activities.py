"""Activities → "My text messages": the grid of conversations visible to me."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, render

from textdesk.crm import record_types
from textdesk.crm.models import RecordType
from textdesk.messaging.visibility import visible_conversations

PAGE_SIZE = 25
SORTS = {
    "time": "last_message_at",
    "record": "record_type",
    "customer": "customer_e164",
    "ours": "sender_number__e164",
    "status": "last_status",
    "unread": "unread_count",
}


def grid_queryset(user, params):
    qs = visible_conversations(user).select_related("sender_number", *record_types.LINK_FIELDS)
    if params.get("unread") == "1":
        qs = qs.filter(unread_count__gt=0)
    number = (params.get("number") or "").strip().replace(" ", "")
    if number:
        qs = qs.filter(Q(customer_e164__contains=number) | Q(sender_number__e164__contains=number))
    kind = params.get("type") or ""
    if kind in RecordType.values:
        qs = qs.filter(record_type=kind)
    sort = params.get("sort") or "-time"
    key = SORTS.get(sort.lstrip("-"), "last_message_at")
    desc = sort.startswith("-")
    order = f"-{key}" if desc else key
    return qs.order_by(order, "-id"), sort


@login_required
def my_text_messages(request, conversation_id: int | None = None):
    qs, sort = grid_queryset(request.user, request.GET)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    opened = None
    if conversation_id is not None:
        # A conversation URL opens the pane over the grid; not visible means it does not exist.
        opened = get_object_or_404(visible_conversations(request.user), pk=conversation_id)
    params = request.GET.copy()
    params.pop("page", None)
    base_params = params.copy()
    base_params.pop("sort", None)
    context = {
        "page": page,
        "sort": sort,
        "filters": request.GET,
        "record_types": RecordType.choices,
        "query": params.urlencode(),
        "base_query": base_params.urlencode(),
        "opened": opened,
    }
    template = "web/activities_grid.html" if request.htmx and request.htmx.target == "grid" else "web/activities.html"
    return render(request, template, context)
