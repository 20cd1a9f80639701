"""The seller's sales-accelerator pages: the work list, a record's "Up next", and the step buttons."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from textdesk.sequences import actions, queries
from textdesk.sequences.errors import SequenceError
from textdesk.sequences.models import SequenceConnection, StepKind
from textdesk.sequences.templatetags.sequences import up_next_context


def _record_or_404(user, record_key: str):
    from textdesk.crm.models import parse_record_key, record_model

    try:
        record_type, pk = parse_record_key(record_key)
    except ValueError:
        raise Http404 from None
    record = record_model(record_type).objects.filter(pk=pk).first()
    if record is None or not actions.may_work_on(user, record):
        raise Http404
    return record


@login_required
def work_list(request: HttpRequest) -> HttpResponse:
    from textdesk.crm.models import RecordType

    step_kind = request.GET.get("step") or None
    record_type = request.GET.get("type") or None
    if step_kind not in dict(StepKind.choices):
        step_kind = None
    if record_type not in dict(RecordType.choices):
        record_type = None
    items = list(queries.work_list(request.user, step_kind=step_kind, record_type=record_type)[:500])
    context = {
        "items": items,
        "step_kind": step_kind or "",
        "record_type": record_type or "",
        "step_kinds": StepKind.choices,
        "record_types": RecordType.choices,
    }
    template = "sequences/_work_list_items.html" if request.headers.get("HX-Request") else "sequences/work_list.html"
    return render(request, template, context)


@login_required
def record_page(request: HttpRequest, record_key: str) -> HttpResponse:
    record = _record_or_404(request.user, record_key)
    return render(request, "sequences/record.html", {"record": record})


@login_required
def up_next_fragment(request: HttpRequest, record_key: str) -> HttpResponse:
    record = _record_or_404(request.user, record_key)
    return render(request, "sequences/up_next.html", up_next_context(request, record))


def _answer(request: HttpRequest, record, error: str = "", fix: str = "", status: int = 200) -> HttpResponse:
    """htmx gets the refreshed widget; a plain form post goes back where it came from."""
    if request.headers.get("HX-Request") or error:
        context = up_next_context(request, record, error=error, fix=fix)
        return render(request, "sequences/up_next.html", context, status=status)
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    return redirect(target or "sequences:record", **({} if target else {"record_key": record.record_key}))


def _connection_or_404(request, connection_id: int) -> SequenceConnection:
    connection = SequenceConnection.objects.filter(pk=connection_id).first()
    if connection is None or not actions.may_work_on(request.user, connection.record):
        raise Http404
    return connection


def _step_id(request) -> int | None:
    raw = request.POST.get("step_id", "")
    return int(raw) if raw.isdigit() else None


def _step_action(fn):
    @login_required
    @require_POST
    def view(request: HttpRequest, connection_id: int) -> HttpResponse:
        connection = _connection_or_404(request, connection_id)
        try:
            fn(request.user, connection.pk, _step_id(request))
        except SequenceError as exc:
            return _answer(request, connection.record, error=exc.message, status=exc.status)
        return _answer(request, connection.record)

    return view


complete = _step_action(actions.complete_step)
skip = _step_action(actions.skip_step)
retry = _step_action(actions.retry_step)
disconnect = _step_action(lambda user, cid, _step: actions.disconnect(user, cid))


@login_required
@require_POST
def send(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Send the current text step's message (the seller may have edited it) and move on."""
    connection = _connection_or_404(request, connection_id)
    sender = request.POST.get("sender_number", "")
    body = request.POST.get("body", "")
    if not sender.isdigit():
        return _answer(request, connection.record, error=_("Choose the number to send from."), status=400)
    from textdesk.messaging.outbound.send import SendRefused

    try:
        actions.send_step_text(
            request.user,
            connection.pk,
            _step_id(request),
            sender_number_id=int(sender),
            to_number=request.POST.get("to_number", ""),
            body=body,
        )
    except SequenceError as exc:
        return _answer(request, connection.record, error=exc.message, status=exc.status)
    except SendRefused as refused:
        return _answer(request, connection.record, error=refused.message, fix=refused.fix, status=refused.status)
    return _answer(request, connection.record)


@login_required
def draft(request: HttpRequest, connection_id: int) -> JsonResponse:
    """The current text step's message, ready for a conversation pane to prefill (and where to send it)."""
    connection = _connection_or_404(request, connection_id)
    context = up_next_context(request, connection.record)
    step = context.get("step")
    if connection.state != "active" or step is None or step.kind != StepKind.TEXT_MANUAL:
        return JsonResponse(
            {"detail": _("The current step is not a text message a seller sends."), "code": "not_a_text_step"},
            status=409,
        )
    recipients = context["recipients"]
    return JsonResponse(
        {
            "connection_id": connection.pk,
            "step_id": step.pk,
            "record_key": connection.record_key,
            "body": context["body"],
            "sender_number_id": context["default_sender_id"],
            "to_number": recipients[0]["e164"] if recipients else None,
            "send_url": reverse("sequences:send", args=[connection.pk]),
            "pane_url": context.get("pane_url") or None,
            "pane_send_url": reverse("sequences:pane_send", args=[connection.pk]) if context.get("pane_url") else None,
        }
    )


@login_required
@require_POST
def pane_send(request: HttpRequest, connection_id: int) -> HttpResponse:
    """The web app's conversation pane sending the current text step: answers with the refreshed pane.

    The pane's composer posts here (instead of its plain send) when it was opened from "Up next", so the
    message and the step's completion are one transaction.
    """
    from textdesk.messaging.outbound.send import SendRefused
    from textdesk.web.views.pane import render_pane

    connection = _connection_or_404(request, connection_id)
    record = connection.record
    to, sender, body = request.POST.get("to", ""), request.POST.get("from", ""), request.POST.get("body", "")
    pane = {"to": to, "sender_id": sender, "body": body}
    if not sender.isdigit():
        return render_pane(
            request, record, **pane, status=422, error={"message": _("Choose the number to send from."), "fix": ""}
        )
    try:
        message = actions.send_step_text(
            request.user, connection.pk, _step_id(request), sender_number_id=int(sender), to_number=to, body=body
        )
    except SequenceError as exc:
        return render_pane(request, record, **pane, status=exc.status, error={"message": exc.message, "fix": ""})
    except SendRefused as refused:
        return render_pane(
            request, record, **pane, status=refused.status, error={"message": refused.message, "fix": refused.fix}
        )
    response = render_pane(request, record, to=to, sender_id=sender, conversation_id=message.conversation_id)
    response["HX-Trigger"] = "sequence-changed"
    return response


@login_required
@require_POST
def connect(request: HttpRequest) -> HttpResponse:
    record = _record_or_404(request.user, request.POST.get("record_key", ""))
    sequence = request.POST.get("sequence", "")
    if not sequence.isdigit():
        return _answer(request, record, error=_("Choose a sequence."), status=400)
    try:
        [result] = actions.connect(request.user, int(sequence), [record.record_key])
    except SequenceError as exc:
        return _answer(request, record, error=exc.message, status=exc.status)
    if result.outcome != "connected":
        return _answer(request, record, error=result.message, status=409)
    return _answer(request, record)
