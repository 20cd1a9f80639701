"""The consent ledger: granting or revoking a customer number's consent for a purpose.

Revoking transactional consent is an opt-out of every number (it goes through the existing opt-out
record, so every send path refuses it); granting it back lifts that opt-out. Marketing consent lives in
the ledger only, and the send check reads it when the organisation requires it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from textdesk.compliance import audit
from textdesk.compliance.models import AuditAction, ConsentMethod, ConsentRecord, LegalBasis, Purpose
from textdesk.domain import phones

# Set while the ledger itself records an opt-out, so the consent hook does not write the entry twice.
writing_ledger: contextvars.ContextVar[bool] = contextvars.ContextVar("compliance_writing_ledger", default=False)


class InvalidConsent(ValueError):
    pass


@dataclass(frozen=True)
class CurrentConsent:
    purpose: str
    granted: bool | None  # None: nothing recorded
    record: ConsentRecord | None


def latest(customer_e164: str, purpose: str) -> ConsentRecord | None:
    return ConsentRecord.objects.filter(customer_e164=customer_e164, purpose=purpose).order_by("-at", "-id").first()


def current(customer_e164: str) -> list[CurrentConsent]:
    """The consent of a number for each purpose, as the pane and the record show it."""
    result = []
    for purpose in Purpose.values:
        entry = latest(customer_e164, purpose)
        result.append(CurrentConsent(purpose, entry.granted if entry else None, entry))
    return result


def has_marketing_consent(customer_e164: str) -> bool:
    entry = latest(customer_e164, Purpose.MARKETING)
    return entry is not None and entry.granted


def record(
    *,
    customer: str,
    purpose: str,
    granted: bool,
    method: str,
    wording: str = "",
    legal_basis: str = LegalBasis.CONSENT,
    recorded_by=None,
    note: str = "",
    at=None,
) -> ConsentRecord:
    """Append one ledger entry (and, for transactional consent, the matching opt-out or opt-in)."""
    customer = (customer or "").strip()
    if not phones.is_e164(customer):
        raise InvalidConsent("customer must be a phone number in E.164 format")
    if purpose not in Purpose.values:
        raise InvalidConsent(f"purpose must be one of {', '.join(Purpose.values)}")
    if method not in ConsentMethod.values:
        raise InvalidConsent(f"method must be one of {', '.join(ConsentMethod.values)}")
    if legal_basis not in LegalBasis.values:
        raise InvalidConsent(f"legal_basis must be one of {', '.join(LegalBasis.values)}")
    with transaction.atomic():
        entry = ConsentRecord.objects.create(
            customer_e164=customer,
            purpose=purpose,
            granted=granted,
            at=at or timezone.now(),
            method=method,
            wording=wording[:2000],
            legal_basis=legal_basis,
            recorded_by=recorded_by if getattr(recorded_by, "pk", None) else None,
            note=note[:200],
        )
        audit.record(
            AuditAction.CONSENT_CHANGED,
            actor=recorded_by,
            target_type="number",
            target_id=customer,
            details={"purpose": purpose, "granted": granted, "method": method, "legal_basis": legal_basis},
        )
        # An entry dated before a later one (an import of old consents) is history: it does not undo the later one.
        superseded = (
            ConsentRecord.objects.filter(customer_e164=customer, purpose=purpose, at__gt=entry.at)
            .exclude(pk=entry.pk)
            .exists()
        )
        if purpose == Purpose.TRANSACTIONAL and not superseded:
            from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
            from textdesk.messaging.models import ConsentAction

            token = writing_ledger.set(True)
            try:
                action = ConsentAction.OPT_IN if granted else ConsentAction.OPT_OUT
                source = f"user:{recorded_by.pk}" if getattr(recorded_by, "pk", None) else method
                record_consent(customer, ALL_NUMBERS, action, source[:40], detail=note or method)
            finally:
                writing_ledger.reset(token)
    return entry
