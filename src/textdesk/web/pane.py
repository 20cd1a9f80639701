"""What the conversation pane shows for a record: conversations, numbers, consent, templates, history."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from textdesk.domain import failures
from textdesk.messaging.models import Conversation, Message, MessageTemplate, SenderNumber
from textdesk.messaging.visibility import visible_conversations
from textdesk.web import records, routing_words

# Recipient states shown above the composer.
OK, NO_PHONE, INVALID, OPTED_OUT, NO_SENDER = "ok", "no_phone", "invalid", "opted_out", "no_sender"


def my_sender_numbers(user) -> list[SenderNumber]:
    """Numbers the user may send from: their own first (the default), then their teams'."""
    numbers = SenderNumber.objects.filter(
        Q(owner_user=user) | Q(owner_team__in=user.team_ids()), is_active=True
    ).order_by("name")
    return sorted(numbers, key=lambda n: n.owner_user_id != user.pk)


@dataclass
class MessageView:
    message: Message
    failure: failures.FailureReason | None = None
    routing_explanation: str = ""


@dataclass
class PaneState:
    record: object
    recipients: list[dict]
    recipient: dict | None
    senders: list
    sender: SenderNumber | None
    conversations: list[Conversation]
    conversation: Conversation | None
    messages: list[MessageView] = field(default_factory=list)
    related: list = field(default_factory=list)
    templates: list = field(default_factory=list)
    state: str = OK
    can_send: bool = False
    can_receive: bool = False


def _pick_recipient(recipients: list[dict], wanted: str | None) -> dict | None:
    if wanted:
        for r in recipients:
            if wanted in (r["e164"], r["raw"], r["field"]):
                return r
    for field_name in ("mobile_phone", "business_phone"):
        for r in recipients:
            if r["field"] == field_name and r["is_valid"]:
                return r
    for r in recipients:
        if r["raw"]:
            return r
    return None


def message_views(conversation: Conversation | None) -> list[MessageView]:
    if conversation is None:
        return []
    out = []
    for m in conversation.messages.select_related("author").order_by("created_at", "id"):
        view = MessageView(m)
        if m.direction == "outbound" and m.status in ("failed", "undelivered", "unknown", "no_report"):
            view.failure = failures.describe(
                m.failure_reason or (failures.OUTCOME_UNKNOWN if m.status == "unknown" else "")
            )
        if m.direction == "inbound":
            view.routing_explanation = routing_words.explain(m.routing_rule)
        out.append(view)
    return out


def pane_state(
    user, record, *, to: str | None = None, sender_id: str | None = None, conversation_id: str | None = None
) -> PaneState:
    from textdesk.messaging.actions.consent import is_opted_out

    conversations = list(
        visible_conversations(user)
        .filter(record_key=record.record_key)
        .select_related("sender_number")
        .order_by("-last_message_at", "-id")
    )
    conversation = None
    if conversation_id and str(conversation_id).isdigit():
        conversation = next((c for c in conversations if c.pk == int(conversation_id)), None)
    recipients = records.phone_numbers_for(record)
    if conversation is not None and not to:
        to = conversation.customer_e164
    recipient = _pick_recipient(recipients, to)
    if recipient is None and to and conversation is not None:
        # The conversation's number is no longer on the record: still show and answer it.
        recipient = {"field": "", "label": to, "raw": to, "e164": to, "is_valid": True, "owner": None}
        recipients.append(recipient)

    senders = list(my_sender_numbers(user))
    sender = None
    if sender_id and str(sender_id).isdigit():
        sender = next((s for s in senders if s.pk == int(sender_id)), None)
    if sender is None and conversation is not None:
        sender = next((s for s in senders if s.pk == conversation.sender_number_id), None)
    customer = recipient["e164"] if recipient else ""
    if sender is None and customer:
        recent = next(
            (
                c
                for c in conversations
                if c.customer_e164 == customer and any(s.pk == c.sender_number_id for s in senders)
            ),
            None,
        )
        if recent is not None:
            sender = next(s for s in senders if s.pk == recent.sender_number_id)
    if sender is None and senders:
        sender = senders[0]

    if conversation is None and customer:
        same_customer = [c for c in conversations if c.customer_e164 == customer]
        conversation = next((c for c in same_customer if sender and c.sender_number_id == sender.pk), None)
        if conversation is None and same_customer:
            conversation = same_customer[0]

    if not any(r["raw"] for r in recipients):
        state = NO_PHONE
    elif recipient is None or not recipient["is_valid"]:
        state = INVALID
    elif sender is None:
        state = NO_SENDER
    elif is_opted_out(customer, sender.e164):
        state = OPTED_OUT
    else:
        state = OK

    templates = list(MessageTemplate.objects.filter(owner=user, category=record.record_type).order_by("name"))
    return PaneState(
        record=record,
        recipients=recipients,
        recipient=recipient,
        senders=senders,
        sender=sender,
        conversations=conversations,
        conversation=conversation,
        messages=message_views(conversation),
        related=records.related_records(record),
        templates=templates,
        state=state,
        can_send=user.has_perm("org.send_messages"),
        can_receive=user.has_perm("org.receive_inbound_messages"),
    )
