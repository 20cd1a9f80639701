"""Text messages over the REST API: send, count segments of a draft, list and search the visible ones (newest
first, keyset cursor), read one message with its history."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from textdesk import errors
from textdesk.api import listing
from textdesk.api.common import COMMON_ERRORS, ERRORS, READ_ERRORS, DbId, ErrorOut
from textdesk.api.conversations import NEWEST_MESSAGES, FoundMessagePage, MessageFilters
from textdesk.api.conversations import message_out as listed_message_out
from textdesk.api.listing import CursorQuery
from textdesk.crm.models import RECORD_MODELS
from textdesk.domain import failures, segments
from textdesk.domain import search as search_rules
from textdesk.domain import status as st
from textdesk.messaging import keyset, search
from textdesk.messaging.models import Message, SenderNumber
from textdesk.messaging.outbound.send import SendRefused, send_message
from textdesk.messaging.visibility import visible_messages

router = Router(tags=["messages"])


class SendIn(Schema):
    record_type: str
    record_id: DbId
    sender_number_id: DbId
    to: str
    body: str
    send_at: dt.datetime | None = None
    add_number_to_record: bool = Field(
        False,
        description="send to a number that is not one of the record's (nor of its conversations): the record's "
        "conversation with it is opened; without it such a send is refused (422, RecipientNotOnRecord)",
    )


class RefusalOut(ErrorOut):
    """A refused send: the API's error shape; ``code`` is the neutral failure reason, also given as ``reason``."""

    reason: str = ""
    message: str = ""


class SegmentsIn(Schema):
    body: str


class SegmentsOut(Schema):
    encoding: str
    segments: int
    characters: int
    units: int
    remaining: int
    per_segment: int
    parts: list[int]
    ucs2_characters: list[str]


class EventOut(Schema):
    at: dt.datetime
    status: str
    provider_status: str
    provider_code: str
    detail: str
    applied: bool


class FailureOut(Schema):
    reason: str
    title: str
    fix: str
    permanent: bool
    provider_code: str
    provider_text: str


class MessageOut(Schema):
    id: int
    conversation_id: int | None
    direction: str
    from_number: str
    to_number: str
    body: str
    status: str
    status_reason: str  # the seed product's status reason (Sent, Delivered, SendingFailed, …)
    segments: int
    encoding: str
    provider_message_id: str | None
    record_type: str | None = Field(description="the CRM record the conversation is filed on")
    record_id: int | None
    routing_rule: str = Field(description="which routing rule chose the record (inbound only)")
    routing_state: str
    attempts: int
    send_after: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    failure: FailureOut | None
    history: list[EventOut]


def message_out(message: Message) -> dict:
    conversation = message.conversation
    failure = None
    if message.failure_reason:
        described = failures.describe(message.failure_reason)
        failure = {
            "reason": message.failure_reason,
            "title": str(described.title),
            "fix": str(described.fix),
            "permanent": message.failure_permanent,
            "provider_code": message.provider_error_code,
            "provider_text": message.provider_error_text,
        }
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "from_number": message.from_number,
        "to_number": message.to_number,
        "body": message.body,
        "status": message.status,
        "status_reason": st.seed_status_reason(message.status, message.routing_state == "failed"),
        "segments": message.segments,
        "encoding": message.encoding,
        "provider_message_id": message.provider_message_id,
        "record_type": conversation.record_type if conversation else None,
        "record_id": getattr(conversation, f"{conversation.record_type}_id") if conversation else None,
        "routing_rule": message.routing_rule,
        "routing_state": message.routing_state,
        "attempts": message.attempts,
        "send_after": message.send_after,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
        "delivered_at": message.delivered_at,
        "failure": failure,
        "history": list(
            message.events.order_by("at", "id").values(
                "at", "status", "provider_status", "provider_code", "detail", "applied"
            )
        ),
    }


@router.post("", response={201: MessageOut, **ERRORS, 403: RefusalOut, 404: RefusalOut, 422: RefusalOut})
def send(request, payload: SendIn):
    model = RECORD_MODELS.get(payload.record_type)
    if model is None:
        raise SendRefused(
            failures.INVALID_SENDING_PARAMETERS,
            _("Unknown record type %(type)s.") % {"type": payload.record_type},
            _("Use contact, account, opportunity or lead."),
        )
    record = model.objects.filter(pk=payload.record_id).first()
    if record is None:
        refusal = SendRefused(
            failures.INVALID_SENDING_PARAMETERS, _("No such record."), _("Check the record type and id.")
        )
        refusal.status = 404
        raise refusal
    number = SenderNumber.objects.filter(pk=payload.sender_number_id).first()
    if number is None:
        raise SendRefused(failures.SENDER_NOT_ALLOWED)
    send_at = payload.send_at
    if send_at is not None and timezone.is_naive(send_at):
        send_at = timezone.make_aware(send_at, dt.UTC)
    message = send_message(
        user=request.user,
        record=record,
        sender_number=number,
        to_number=payload.to,
        body=payload.body,
        send_at=send_at,
        source="api",
        add_number_to_record=payload.add_number_to_record,
    )
    return Status(201, message_out(message))


@router.post("/segments", response={200: SegmentsOut, **COMMON_ERRORS})
def count_segments(request, payload: SegmentsIn):
    return segments.count(payload.body).as_dict()


@router.get("", response=FoundMessagePage, summary="Messages the caller can see, newest first; search")
def find_messages(request, filters: Query[MessageFilters], paging: Query[CursorQuery]):
    query = search_rules.parse(filters.search)
    qs = search.readable_messages(request.user).select_related("conversation")
    if query.words:
        qs = qs.filter(search.message_text_match(query))
    elif query.digits:
        qs = qs.filter(conversation__customer_e164__contains=query.digits)

    def out(m: Message) -> dict:
        highlight = search_rules.marked_html(search_rules.highlight(m.body, query, around=200))
        return {**listed_message_out(m, m.conversation), "highlight": highlight}

    cap = keyset.SEARCH_COUNT_CAP if query.words else None
    return listing.page(qs, NEWEST_MESSAGES, paging, out, count_cap=cap)


@router.get("/{message_id}", response={200: MessageOut, **READ_ERRORS})
def get_message(request, message_id: DbId):
    message = visible_messages(request.user).select_related("conversation").filter(pk=message_id).first()
    if message is None:
        raise errors.NotFound(_("No such message."), fix=_("Check the message id."))
    return Status(200, message_out(message))
