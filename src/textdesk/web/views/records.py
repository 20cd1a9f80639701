"""Record list pages (with search) and record pages (fields, phones with message icons, Activity tab)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from textdesk.crm.models import RECORD_MODELS
from textdesk.messaging.visibility import visible_conversations
from textdesk.web import records


@login_required
def record_list(request, record_type: str):
    model = RECORD_MODELS.get(record_type)
    if model is None or not records.can_view(request.user, record_type):
        raise Http404
    text = (request.GET.get("q") or "").strip()
    qs = model.objects.all()
    if text:
        qs = qs.filter(records.search_query(record_type, text))
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "web/record_list.html",
        {
            "record_type": record_type,
            "title": records.LIST_TITLES[record_type],
            "page": page,
            "q": text,
            "model": model,
        },
    )


@login_required
def record_detail(request, record_type: str, pk: int):
    record = records.get_record(request.user, record_type, pk)
    fields = []
    phone_by_field = {n["field"]: n for n in record.phone_numbers()} if record_type != "opportunity" else {}
    for name in records.DETAIL_FIELDS[record_type]:
        f = record._meta.get_field(name)
        value = getattr(record, name)
        if f.choices:
            value = getattr(record, f"get_{name}_display")()
        fields.append(
            {
                "name": name,
                "label": f.verbose_name,
                "value": value,
                "phone": phone_by_field.get(name),
                "link": value if hasattr(value, "record_type") else None,
                "field": f,
            }
        )
    conversations = []
    if record_type == "opportunity":
        conversations = list(
            visible_conversations(request.user)
            .filter(record_key=record.record_key)
            .select_related("sender_number")
            .order_by("-last_message_at")
        )
    tab = request.GET.get("tab") or "summary"
    return render(
        request,
        "web/record_detail.html",
        {
            "record": record,
            "record_type": record_type,
            "fields": fields,
            "conversations": conversations,
            "tab": tab,
            "open_pane": request.GET.get("pane") == "1",
            "pane_to": request.GET.get("to", ""),
            "pane_conversation": request.GET.get("c", ""),
        },
    )


@login_required
def record_search(request):
    """Typeahead for Move: records of any type by name or number."""
    found = records.search_records(request.user, request.GET.get("q", ""))
    return render(request, "web/partials/record_search_results.html", {"found": found, "q": request.GET.get("q", "")})
