"""Conversations, their messages and the caller's notifications over the API.

- ``GET /conversations`` (filters: ``record_type`` + ``record_id``, ``number``, ``mine``, ``search``), newest first
- ``GET /conversations/{id}/messages``, oldest first
- ``GET /messages`` (``search``: words of the body), newest first, each with its ``highlight``
- ``GET /notifications``, ``POST /notifications/{id}/read``, ``POST /notifications/read-all``

Lists answer ``{"count", "count_is_capped", "limit", "offset", "next_cursor", "items"}``
(:mod:`textdesk.api.listing`: keyset cursors, count capped at 1,000); a filter that cannot be read is a 422
naming it. Everything goes through :mod:`textdesk.messaging.visibility`: a conversation the
caller may not see is answered 404, exactly like one that does not exist.
Inbound messages are shown only to users with the "receive inbound text
messages" privilege.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from textdesk.api import listing
from textdesk.api.common import MAX_OFFSET, DbId, OptionalDbId
from textdesk.api.listing import CursorQuery, cursor_page_schema
from textdesk.crm import record_types
from textdesk.crm.models import RECORD_MODELS
from textdesk.domain import failures, phones
from textdesk.domain import search as search_rules
from textdesk.domain.status import seed_status_reason
from textdesk.messaging import keyset, search
from textdesk.messaging.models import Conversation, Direction, Message, Notification, RoutingState
from textdesk.messaging.visibility import visible_conversations

router = Router(tags=["conversations"])

MAX_LIMIT = 200
NEWEST_CONVERSATIONS = keyset.Order("last_message_at", descending=True, nullable=True)
OLDEST_MESSAGES = keyset.Order("created_at", descending=False)
NEWEST_MESSAGES = keyset.Order("created_at", descending=True)


class ConversationOut(Schema):
    id: int
    record_type: str
    record_id: int
    customer_number: str
    our_number: str
    our_number_id: int
    last_message_at: dt.datetime | None
    last_message_preview: str
    last_direction: str
    last_status: str
    unread_count: int
    created_at: dt.datetime


ConversationPage = cursor_page_schema(ConversationOut, "ConversationPage")


class FailureOut(Schema):
    reason: str
    title: str
    fix: str


class MessageOut(Schema):
    id: int
    conversation_id: int | None
    direction: str
    from_number: str
    to_number: str
    body: str
    status: str
    status_reason: str = Field(description="the seed product's status reason (e.g. Delivered, NotDelivered)")
    provider_message_id: str | None
    record_type: str | None
    record_id: int | None
    routing_rule: str = Field(description="which routing rule chose the record (inbound only)")
    routing_state: str
    failure: FailureOut | None
    segments: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None


MessagePage = cursor_page_schema(MessageOut, "MessagePage")


class FoundMessageOut(MessageOut):
    highlight: str = Field(
        description="the body (cut around the first match when long), HTML-escaped, matches in <mark>"
    )


FoundMessagePage = cursor_page_schema(FoundMessageOut, "FoundMessagePage")


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    conversation_id: int | None
    message_id: int | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationPage(Schema):
    count: int
    limit: int
    offset: int
    unread: int
    items: list[NotificationOut]


class ReadAllOut(Schema):
    marked: int
    unread: int


class ConversationFilters(Schema):
    record_type: str | None = Field(None, description="contact, account, opportunity or lead (with record_id)")
    record_id: OptionalDbId = None
    number: str | None = Field(None, description="the customer's number or one of ours, any format")
    mine: bool = Field(False, description="only conversations on my numbers or my records")
    search: str | None = Field(
        None, description="words of a message, the customer's name, or digits of the customer's number"
    )


class MessageFilters(Schema):
    search: str | None = Field(None, description="words of the message (all of them, as word prefixes)")


class PageFilters(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class NotificationFilters(PageFilters):
    unread: bool = Field(False, description="only unread notifications")


def _conversation_out(conv: Conversation) -> dict:
    return {
        "id": conv.pk,
        "record_type": conv.record_type,
        "record_id": getattr(conv, f"{conv.record_type}_id"),
        "customer_number": conv.customer_e164,
        "our_number": conv.sender_number.e164,
        "our_number_id": conv.sender_number_id,
        "last_message_at": conv.last_message_at,
        "last_message_preview": conv.last_message_preview,
        "last_direction": conv.last_direction,
        "last_status": conv.last_status,
        "unread_count": conv.unread_count,
        "created_at": conv.created_at,
    }


def message_out(message: Message, conversation: Conversation | None) -> dict:
    failure = None
    if message.failure_reason:
        described = failures.describe(message.failure_reason)
        failure = {"reason": message.failure_reason, "title": str(described.title), "fix": str(described.fix)}
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "from_number": message.from_number,
        "to_number": message.to_number,
        "body": message.body,
        "status": message.status,
        "status_reason": seed_status_reason(message.status, message.routing_state == RoutingState.FAILED),
        "provider_message_id": message.provider_message_id,
        "record_type": conversation.record_type if conversation else None,
        "record_id": getattr(conversation, f"{conversation.record_type}_id") if conversation else None,
        "routing_rule": message.routing_rule,
        "routing_state": message.routing_state,
        "failure": failure,
        "segments": message.segments,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
        "delivered_at": message.delivered_at,
    }


def _mine(user) -> Q:
    q = Q(sender_number__owner_user=user)
    for field in record_types.LINK_FIELDS:
        q |= Q(**{f"{field}__owner_user": user})
    return q


@router.get("/conversations", response=ConversationPage, summary="Conversations the caller can see, newest first")
def list_conversations(request, filters: Query[ConversationFilters], paging: Query[CursorQuery]):
    qs = visible_conversations(request.user)
    if filters.record_type is not None or filters.record_id is not None:
        if filters.record_type not in RECORD_MODELS or filters.record_id is None:
            raise ValidationError(
                {"record_type": _("record_type (contact, account, opportunity or lead) and record_id go together.")}
            )
        qs = qs.filter(record_key=f"{filters.record_type}:{filters.record_id}")
    if filters.number:
        e164 = phones.normalise(filters.number).e164
        if not e164:
            raise ValidationError(
                {
                    "number": _("%(number)s is not a valid phone number; write it in E.164, e.g. +14155550100.")
                    % {"number": filters.number}
                }
            )
        qs = qs.filter(Q(customer_e164=e164) | Q(sender_number__e164=e164))
    if filters.mine:
        qs = qs.filter(_mine(request.user))
    query = search_rules.parse(filters.search)
    if query:
        qs = qs.filter(pk__in=search.search_conversations(request.user, query).values("pk"))
    qs = qs.select_related("sender_number")
    cap = keyset.SEARCH_COUNT_CAP if query.words else None
    return listing.page(qs, NEWEST_CONVERSATIONS, paging, _conversation_out, count_cap=cap)


@router.get(
    "/conversations/{conversation_id}/messages",
    response=MessagePage,
    summary="Messages of one conversation, oldest first",
)
def list_messages(request, conversation_id: DbId, paging: Query[CursorQuery]):
    conversation = visible_conversations(request.user).filter(pk=conversation_id).first()
    if conversation is None:
        raise HttpError(404, _("Conversation not found."))
    qs = Message.objects.filter(conversation=conversation)
    if not request.user.has_perm("org.receive_inbound_messages"):
        qs = qs.exclude(direction=Direction.INBOUND)
    return listing.page(qs, OLDEST_MESSAGES, paging, lambda m: message_out(m, conversation))


def _unread(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


@router.get("/notifications", response=NotificationPage, summary="The caller's notifications, newest first")
def list_notifications(request, filters: Query[NotificationFilters]):
    qs = Notification.objects.filter(user=request.user).order_by("-created_at", "-id")
    if filters.unread:
        qs = qs.filter(read_at__isnull=True)
    count = qs.count()
    page = list(qs[filters.offset : filters.offset + filters.limit])
    return {
        "count": count,
        "limit": filters.limit,
        "offset": filters.offset,
        "unread": _unread(request.user),
        "items": page,
    }


@router.post("/notifications/{notification_id}/read", response=NotificationOut, summary="Mark one as read")
def read_notification(request, notification_id: DbId):
    from textdesk.messaging.actions.reading import mark_read

    notification = mark_read(request.user, notification_id)
    if notification is None:
        raise HttpError(404, _("Notification not found."))
    return notification


@router.post("/notifications/read-all", response=ReadAllOut, summary="Mark every notification as read")
def read_all_notifications(request):
    from textdesk.messaging.actions.reading import mark_all_read

    marked = mark_all_read(request.user)
    return {"marked": marked, "unread": _unread(request.user)}
