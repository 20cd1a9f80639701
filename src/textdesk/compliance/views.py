"""The seller's one click on an opt-out request found in free text (record it, or dismiss it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from textdesk.compliance import access
from textdesk.compliance.actions import intent, ledger


def _flag(request, flag_id: int):
    flag = access.visible_flags(request.user).select_related("conversation").filter(pk=flag_id).first()
    if flag is None:
        raise Http404
    if not request.user.has_perm("org.send_messages"):
        raise PermissionDenied
    return flag


def _box(request, flag):
    conversation = flag.conversation
    context = {
        "number": flag.customer_e164,
        "consents": ledger.current(flag.customer_e164),
        "flags": list(intent.open_flags(conversation)),
        "conversation": conversation,
    }
    response = render(request, "compliance/consent_box.html", context)
    response["HX-Trigger"] = "consent-changed"
    return response


@login_required
@require_POST
def record_flag(request, flag_id: int):
    flag = _flag(request, flag_id)
    intent.record(flag, request.user)
    return _box(request, flag)


@login_required
@require_POST
def dismiss_flag(request, flag_id: int):
    flag = _flag(request, flag_id)
    intent.dismiss(flag, request.user)
    return _box(request, flag)


def _filters(request):
    from textdesk.compliance.dashboard import Filters

    try:
        days = min(max(int(request.GET.get("days", 30)), 1), 366)
    except ValueError:
        days = 30
    number, team = request.GET.get("number", ""), request.GET.get("team", "")
    return Filters(
        days=days,
        number_id=int(number) if number.isdigit() and len(number) < 10 else None,
        team_id=int(team) if team.isdigit() and len(team) < 10 else None,
    )


@login_required
def dashboard(request):
    """Managers' and administrators' figures, drawn by Chart.js (installed from npm, served as a static file)."""
    from textdesk.compliance import dashboard as figures
    from textdesk.messaging.models import SenderNumber
    from textdesk.org.models import Team

    if not request.user.has_perm(access.DASHBOARD):
        raise PermissionDenied
    filters = _filters(request)
    data = {chart: figures.table(chart, filters) for chart in figures.CHARTS}
    context = {
        "data": data,
        "filters": filters,
        "numbers": SenderNumber.objects.order_by("name"),
        "teams": Team.objects.order_by("name"),
        "query": request.GET.urlencode(),
    }
    return render(request, "compliance/dashboard.html", context)


@login_required
def dashboard_csv(request, chart: str):
    import csv

    from django.http import HttpResponse

    from textdesk.compliance import dashboard as figures

    if not request.user.has_perm(access.DASHBOARD):
        raise PermissionDenied
    if chart not in figures.CHARTS:
        raise Http404
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{chart}.csv"'
    writer = csv.writer(response)
    for row in figures.table(chart, _filters(request)):
        writer.writerow(row)
    return response
