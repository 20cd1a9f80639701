"""The one entry point the existing consent handling calls (``messaging.actions.consent.record_consent``):
every opt-out, opt-in or HELP, whatever its source, leaves an audit event, a ledger entry and, for a
customer's own message, its one automatic reply."""

from __future__ import annotations

import contextvars

from textdesk.compliance import audit
from textdesk.compliance.models import AuditAction, ConsentMethod, ConsentRecord, Purpose

# The language of the free-text request being recorded, for the confirmation's wording.
intent_language: contextvars.ContextVar[str] = contextvars.ContextVar("compliance_intent_language", default="")

_METHODS = {"keyword": ConsentMethod.KEYWORD, "free_text": ConsentMethod.FREE_TEXT, "api": ConsentMethod.API}


def _method(source: str) -> str:
    if source.startswith("provider"):
        return ConsentMethod.PROVIDER
    if source.startswith("user:"):
        return ConsentMethod.CALL
    return _METHODS.get(source, ConsentMethod.API)


def consent_recorded(event) -> None:
    """Called inside the transaction that recorded ``event`` (a ``messaging.ConsentEvent``)."""
    from textdesk.compliance.actions import ledger, replies, subject

    if event.action in ("opt_out", "opt_in"):
        audit.record(
            AuditAction.OPT_OUT_CHANGED,
            target_type="number",
            target_id=event.customer_e164,
            details={"action": event.action, "scope": event.scope, "source": event.source, "detail": event.detail},
        )
        if not ledger.writing_ledger.get():
            granted = event.action == "opt_in"
            wording = event.message.body[:2000] if event.message is not None else event.detail
            for purpose in Purpose.values:
                ConsentRecord.objects.create(
                    customer_e164=event.customer_e164,
                    purpose=purpose,
                    granted=granted,
                    method=_method(event.source),
                    wording=wording,
                    recorded_by=audit.current_user(),
                    note=f"scope {event.scope}"[:200],
                )
    if event.action == "opt_in":
        subject.lift_erasure_block(event.customer_e164)
    replies.schedule(event, intent_language.get() or None)
