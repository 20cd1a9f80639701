"""What some providers need to know about the customer on a reply: the carrier code they named on the
customer's inbound messages (Vibes), and the id of the customer's last message (LINK ``moReferenceId``).

Written when a webhook brings inbound messages that carry a carrier; read when a message is handed to a
provider whose adapter asks for it (``needs_customer_carrier``). Other providers cost nothing here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone

from textdesk.messaging.models import CustomerCarrier, Direction, Message
from textdesk.providers.base import InboundSMS

# Providers whose replies name the customer's carrier or link to their last message.
CARRIER_KINDS = frozenset({"vibes"})
REPLY_LINK_KINDS = frozenset({"link_mobility"})
REPLY_LINK_WINDOW = dt.timedelta(hours=24)  # an older message is not what a reply answers


def remember(account_id: int, messages: Iterable[InboundSMS]) -> int:
    """Keep the latest carrier named for each customer of ``messages``. Returns how many were kept."""
    latest = {m.from_number: m.carrier for m in messages if m.carrier and m.from_number}
    for number, carrier in latest.items():
        CustomerCarrier.objects.update_or_create(
            provider_account_id=account_id, customer_number=number[:32], defaults={"carrier": carrier[:20]}
        )
    return len(latest)


def carrier_for(account_id: int, customer_number: str) -> str:
    return (
        CustomerCarrier.objects.filter(provider_account_id=account_id, customer_number=customer_number)
        .values_list("carrier", flat=True)
        .first()
        or ""
    )


def last_inbound_id(message: Message) -> str:
    """The provider's id of the customer's last message (of the last day) to the number ``message`` leaves from."""
    return (
        Message.objects.filter(
            provider_account_id=message.provider_account_id,
            direction=Direction.INBOUND,
            from_number=message.to_number,
            to_number=message.from_number,
            provider_message_id__isnull=False,
            created_at__gte=timezone.now() - REPLY_LINK_WINDOW,
        )
        .order_by("-created_at", "-id")
        .values_list("provider_message_id", flat=True)
        .first()
        or ""
    )


def reply_context(message: Message, kind: str) -> dict[str, str]:
    """The ``OutboundSMS`` fields a reply through a provider of ``kind`` needs ({} for most providers)."""
    if kind in CARRIER_KINDS:
        return {"destination_carrier": carrier_for(message.provider_account_id, message.to_number)}
    if kind in REPLY_LINK_KINDS:
        return {"in_reply_to": last_inbound_id(message)}
    return {}
