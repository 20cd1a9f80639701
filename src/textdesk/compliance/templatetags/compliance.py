"""``{% consent_box number conversation %}`` in the pane and ``{% record_consents record %}`` on the record:
the consent of a customer number and any opt-out request waiting for the seller."""

from __future__ import annotations

from django import template

from textdesk.compliance.actions import intent, ledger

register = template.Library()


@register.inclusion_tag("compliance/consent_box.html", takes_context=True)
def consent_box(context, number, conversation=None):
    return {
        "number": number,
        "consents": ledger.current(number) if number else [],
        "flags": list(intent.open_flags(conversation)) if conversation else [],
        "request": context.get("request"),
        "conversation": conversation,
    }


@register.inclusion_tag("compliance/record_consents.html")
def record_consents(record):
    numbers = []
    for phone in record.phone_numbers():
        if phone["e164"] and phone["e164"] not in [n["e164"] for n in numbers]:
            numbers.append({"label": phone["label"], "e164": phone["e164"], "consents": ledger.current(phone["e164"])})
    return {"numbers": numbers}
