"""A demo inbox that is not empty: a few conversations of the demo sellers, one in every state.

Delivered and answered, waiting unread, failed (refused by the carrier), not delivered (a landline), unknown
outcome, and a customer who opted out. The history is written as data (no provider is called), the way a
working installation would hold it. Idempotent: a conversation that exists is left as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from textdesk.domain import failures, phones
from textdesk.domain import routing as rules


@dataclass(frozen=True)
class DemoMessage:
    direction: str  # "outbound" | "inbound"
    body: str
    status: str
    minutes_ago: int
    failure_reason: str = ""
    routing_rule: str = ""


# record external id, customer number, sender number, unread, messages, opted out
DEMO_CONVERSATIONS = [
    (
        "demo-acct-1",
        "+14155550100",
        "+14155550001",
        False,
        [
            DemoMessage("outbound", "Hello Acme team, the new price list is on your account page.", "delivered", 300),
            DemoMessage(
                "inbound",
                "Thanks, we will review it on Monday.",
                "received",
                290,
                routing_rule=rules.MOST_RECENT_CONVERSATION,
            ),
        ],
        False,
    ),
    (
        "demo-lead-1",
        "+14155550177",
        "+14155550001",
        True,
        [
            DemoMessage(
                "inbound",
                "Hi, can you send me a quote for three vans?",
                "received",
                25,
                routing_rule=rules.ONLY_CANDIDATE,
            ),
        ],
        False,
    ),
    (
        "demo-contact-4",
        "+393471234567",
        "+14155550001",
        False,
        [
            DemoMessage(
                "outbound",
                "Buongiorno Marco, the samples left our warehouse today.",
                "failed",
                180,
                failure_reason=failures.CARRIER_FILTERED,
            ),
        ],
        False,
    ),
    (
        "demo-contact-6",
        "+14155550111",
        "+14155550001",
        False,
        [
            DemoMessage(
                "outbound",
                "Hi Grace, your order ships tomorrow.",
                "undelivered",
                150,
                failure_reason=failures.LANDLINE,
            ),
        ],
        False,
    ),
    (
        "demo-opp-1",
        "+14155550100",
        "+14155550002",
        False,
        [
            DemoMessage("outbound", "Reminder: the fleet renewal offer ends on Friday.", "unknown", 120),
        ],
        False,
    ),
    (
        "demo-contact-5",
        "+34612345678",
        "+14155550002",
        False,
        [
            DemoMessage("outbound", "Hola Lucía, ¿le envío el catálogo de este año?", "delivered", 90),
            DemoMessage("inbound", "STOP", "received", 85, routing_rule=rules.ONLY_CANDIDATE),
        ],
        True,
    ),
    (
        "demo-contact-2",
        "+5511912345678",
        "+5511955550003",
        True,
        [
            DemoMessage("outbound", "Olá Bruno, o orçamento está pronto.", "delivered", 60),
            DemoMessage(
                "inbound",
                "Obrigado! Podemos falar amanhã?",
                "received",
                10,
                routing_rule=rules.MOST_RECENT_CONVERSATION,
            ),
        ],
        False,
    ),
]

# Customers the conversations need beyond the organisation's records: external id → fields.
DEMO_CUSTOMERS = {
    "demo-contact-4": dict(
        first_name="Marco", last_name="Rossi", mobile_phone="+39 347 123 4567", country="IT", job_title="Buyer"
    ),
    "demo-contact-5": dict(
        first_name="Lucía", last_name="Fernández", mobile_phone="+34 612 34 56 78", country="ES", job_title="CFO"
    ),
    "demo-contact-6": dict(
        first_name="Grace", last_name="Park", business_phone="+1 415 555 0111", country="US", job_title="Office manager"
    ),
}


def _record(external_id: str):
    from textdesk.crm.models import Account, Contact, Lead, Opportunity

    for model in (Contact, Account, Lead, Opportunity):
        found = model.objects.filter(external_id=external_id).first()
        if found is not None:
            return found
    return None


def _customers(owner) -> None:
    from textdesk.crm.models import Contact

    for external_id, fields in DEMO_CUSTOMERS.items():
        Contact.objects.get_or_create(external_id=external_id, defaults=dict(fields, owner_user=owner))


@transaction.atomic
def seed_demo_conversations(now: dt.datetime | None = None) -> int:
    """Write the demo conversations that do not exist yet; returns how many were written."""
    from textdesk.messaging.actions.consent import record_consent
    from textdesk.messaging.models import Conversation, Message, Notification, SenderNumber
    from textdesk.org.models import User

    seller = User.objects.filter(username="seller").first()
    if seller is None:
        return 0
    _customers(seller)
    now = now or timezone.now()
    written = 0
    for external_id, customer, line, unread, messages, opted_out in DEMO_CONVERSATIONS:
        record = _record(external_id)
        sender = SenderNumber.objects.filter(e164=line).select_related("provider_account").first()
        if record is None or sender is None:
            continue
        if Conversation.objects.filter(
            record_key=record.record_key, customer_e164=customer, sender_number=sender
        ).exists():
            continue
        conversation = Conversation(customer_e164=customer, sender_number=sender)
        conversation.set_record(record)
        conversation.save()
        last = None
        for spec in messages:
            at = now - dt.timedelta(minutes=spec.minutes_ago)
            outbound = spec.direction == "outbound"
            last = Message.objects.create(
                conversation=conversation,
                direction=spec.direction,
                provider_account=sender.provider_account,
                sender_number=sender,
                from_number=sender.e164 if outbound else customer,
                to_number=customer if outbound else sender.e164,
                body=spec.body,
                status=spec.status,
                failure_reason=spec.failure_reason,
                failure_permanent=bool(spec.failure_reason),
                routing_state="routed" if not outbound else "",
                routing_rule=spec.routing_rule,
                author=record.owner_user if outbound else None,
                provider_message_id=f"demo-{external_id}-{customer}-{spec.minutes_ago}",
                sent_at=at if outbound and spec.status != "unknown" else None,
                delivered_at=at if spec.status == "delivered" else None,
            )
            Message.objects.filter(pk=last.pk).update(created_at=at)
            last.created_at = at
            if opted_out and not outbound:
                record_consent(customer, sender.e164, "opt_out", "keyword", detail=spec.body, message=last)
        assert last is not None  # every demo conversation has messages
        conversation.last_message_at = last.created_at
        conversation.last_message_preview = last.body[:160]
        conversation.last_direction = last.direction
        conversation.last_status = last.status
        conversation.unread_count = 1 if unread else 0
        conversation.save()
        if unread and record.owner_user_id:
            owner = record.owner_user
            with translation.override(owner.language or settings.LANGUAGE_CODE):
                title = _("New text message from %(number)s") % {"number": phones.display(customer)}
            Notification.objects.create(
                user=owner,
                kind="inbound_message",
                title=title,
                body=last.body,
                conversation=conversation,
                message=last,
            )
        written += 1
    return written
