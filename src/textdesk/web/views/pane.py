"""The conversation pane: opened from the grid, a record, a notification; history, send, templates, move."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from textdesk.domain import templating
from textdesk.messaging.actions.move import MoveRefused, move_conversations
from textdesk.messaging.actions.reading import mark_conversation_read
from textdesk.messaging.models import MessageTemplate
from textdesk.messaging.outbound.send import SendRefused, send_message
from textdesk.messaging.template_context import record_context
from textdesk.messaging.visibility import visible_conversations
from textdesk.web import records
from textdesk.web.pane import message_views, pane_state


def record_url(record, **params) -> str:
    url = reverse("record_detail", args=[record.record_type, record.pk])
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def render_pane(request, record, *, to=None, sender_id=None, conversation_id=None, error=None, status=200, body=""):
    state = pane_state(
        request.user, record, to=to, sender_id=sender_id, conversation_id=conversation_id, language=get_language()
    )
    if state.conversation is not None and state.conversation.unread_count and state.can_receive:
        mark_conversation_read(request.user, state.conversation)
    return render(request, "web/partials/pane.html", {"pane": state, "error": error, "body": body}, status=status)


@login_required
def record_pane(request, record_type: str, pk: int):
    record = records.get_record(request.user, record_type, pk)
    params = dict(to=request.GET.get("to"), sender_id=request.GET.get("from"), conversation_id=request.GET.get("c"))
    if not request.htmx:
        return redirect(record_url(record, pane=1, to=params["to"], c=params["conversation_id"]))
    return render_pane(request, record, **params)


@login_required
def conversation_pane(request, conversation_id: int):
    conversation = get_object_or_404(visible_conversations(request.user), pk=conversation_id)
    record = conversation.record
    if not request.htmx:
        return redirect("conversation", conversation_id=conversation.pk)
    return render_pane(request, record, conversation_id=conversation.pk)


@login_required
def conversation_history(request, conversation_id: int):
    """The message list alone, refreshed live when the pane hears about a new message or status.

    ``seen=1`` says the pane is open on screen: the seller has seen what arrived, so it is not unread. The
    opt-out banner comes along (out of band): a STOP the customer just sent shows without a reload.
    """
    from textdesk.messaging.actions.consent import is_opted_out

    conversation = get_object_or_404(
        visible_conversations(request.user).select_related("sender_number"), pk=conversation_id
    )
    if request.GET.get("seen") == "1" and request.user.has_perm("org.receive_inbound_messages"):
        mark_conversation_read(request.user, conversation)
    return render(
        request,
        "web/partials/history.html",
        {
            "messages": message_views(conversation),
            "conversation": conversation,
            "oob": request.htmx and request.GET.get("seen") is not None,
            "opted_out": is_opted_out(conversation.customer_e164, conversation.sender_number.e164),
        },
    )


@login_required
def template_fill(request, record_type: str, pk: int, template_id: int):
    """A template's body filled from the record (defaults where a field is empty), for the composer."""
    record = records.get_record(request.user, record_type, pk)
    template = get_object_or_404(MessageTemplate, pk=template_id, owner=request.user)
    options = {p["name"]: p for p in template.placeholders or []}
    body = templating.render(template.body, template.category, record_context(record, request.user), options)
    return JsonResponse({"body": body, "name": template.name})


def _refusal_before_send(state, to: str, sender_id: str) -> dict | None:
    """The numbers shown are the numbers used: never another sender or customer in their place."""
    if state.foreign_sender is not None and not sender_id:
        return {
            "message": _("You cannot reply from %(number)s: it is not assigned to you or your teams.")
            % {"number": state.foreign_sender.e164},
            "fix": _("Choose one of your numbers under “From”: the customer will receive the reply from it."),
        }
    if state.sender is None or (sender_id and str(state.sender.pk) != str(sender_id)):
        return {
            "message": _("No number is assigned to you or your teams.")
            if not state.senders
            else _("You cannot send from the number chosen."),
            "fix": _("Ask your administrator to assign you a sender number.")
            if not state.senders
            else _("Choose one of your numbers under “From”."),
        }
    if to and state.recipient is not None and to not in (state.recipient["e164"], state.recipient["raw"]):
        return {
            "message": _("The customer number changed while you were writing."),
            "fix": _("Check the number under “To” and send again."),
        }
    return None


@login_required
@require_POST
def send(request, record_type: str, pk: int):
    record = records.get_record(request.user, record_type, pk)
    to = request.POST.get("to", "")
    sender_id = request.POST.get("from", "")
    body = request.POST.get("body", "")
    conversation_id = request.POST.get("c", "")
    state = pane_state(request.user, record, to=to, sender_id=sender_id, conversation_id=conversation_id)
    error = None
    status = 200
    refusal = _refusal_before_send(state, to, sender_id)
    if refusal is not None:
        return render_pane(
            request,
            record,
            to=to,
            sender_id=sender_id,
            conversation_id=conversation_id,
            status=422,
            body=body,
            error=refusal,
        )
    assert state.sender is not None  # _refusal_before_send refused a missing sender
    to_number = (state.recipient or {}).get("e164") or (state.recipient or {}).get("raw") or to
    if to.strip() and state.recipient and to.strip() not in (state.recipient["e164"], state.recipient["raw"]):
        to_number = to.strip()  # a number typed that is none of the record's: never silently another one
    try:
        message = send_message(
            user=request.user,
            record=record,
            sender_number=state.sender,
            to_number=to_number,
            body=body,
            add_number_to_record=request.POST.get("add_number") == "1",
        )
    except SendRefused as refused:
        error = {"message": refused.message, "fix": refused.fix, "reason": refused.reason}
        status = refused.status
    else:
        conversation_id = message.conversation_id
        body = ""
    if error is None:
        return render_pane(request, record, to=to, sender_id=sender_id, conversation_id=conversation_id)
    return render_pane(
        request,
        record,
        to=to,
        sender_id=sender_id,
        conversation_id=conversation_id,
        error=error,
        status=status,
        body=body,
    )


@login_required
@require_POST
def move(request):
    ids = [int(x) for x in request.POST.getlist("conversation") if x.isdigit()]
    target = records.get_record_by_key(request.user, request.POST.get("target", ""))
    conversations = list(visible_conversations(request.user).filter(pk__in=ids))
    if len(conversations) != len(set(ids)):
        raise Http404
    try:
        moved = move_conversations(request.user, conversations, target)
    except MoveRefused as refused:
        return HttpResponse(
            str(refused.message),
            status=refused.status,
            content_type="text/plain; charset=utf-8",
        )
    url = record_url(target, pane=1, c=moved[0].pk if moved else None)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
