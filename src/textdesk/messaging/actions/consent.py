"""Opt-out and opt-in of customer numbers, kept with their source and time."""

from __future__ import annotations

from django.db import transaction

from textdesk.messaging.models import ConsentAction, ConsentEvent, OptOut

ALL_NUMBERS = "*"


def is_opted_out(customer_e164: str, sender_e164: str) -> bool:
    """True when the customer opted out of this sender number, or of every number."""
    return OptOut.objects.filter(
        customer_e164=customer_e164, scope__in=[sender_e164, ALL_NUMBERS], is_opted_out=True
    ).exists()


@transaction.atomic
def record_consent(
    customer_e164: str, scope: str, action: str, source: str, detail: str = "", message=None
) -> ConsentEvent:
    """Record an opt-out, opt-in or help request. ``scope`` is our number (E.164) or ``"*"``.

    Opting in (START) lifts the opt-out of that scope and the all-numbers one, since
    a customer who writes START to a number expects to hear from it again.
    """
    event = ConsentEvent.objects.create(
        customer_e164=customer_e164, scope=scope, action=action, source=source, detail=detail[:200], message=message
    )
    if action == ConsentAction.OPT_OUT:
        OptOut.objects.update_or_create(
            customer_e164=customer_e164, scope=scope, defaults={"is_opted_out": True, "source": source}
        )
    elif action == ConsentAction.OPT_IN:
        OptOut.objects.filter(customer_e164=customer_e164, scope__in=[scope, ALL_NUMBERS]).update(
            is_opted_out=False, source=source
        )
    from textdesk.compliance import hooks  # compliance depends on messaging, not the reverse

    hooks.consent_recorded(event)  # audit, consent ledger, the one confirmation
    return event
