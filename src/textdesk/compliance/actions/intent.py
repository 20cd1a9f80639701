"""Opt-out requests in customers' own words: found after routing, shown to the seller, recorded in one click
(or at once, when the organisation chose so)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from textdesk.compliance import hooks
from textdesk.compliance.models import ComplianceSettings, FlagState, OptOutFlag
from textdesk.domain import optout, optout_intent

SCAN_BATCH = 200


def scan(limit: int = SCAN_BATCH) -> int:
    """Look at inbound messages routed since the last scan; flag (or record) those asking to stop.

    The scan position only moves past routed (or unroutable) messages, so a message still waiting for
    routing is looked at once it has its conversation. Returns how many messages were looked at.
    """
    from textdesk.messaging.models import Direction, Message, RoutingState

    with transaction.atomic():
        org = ComplianceSettings.objects.select_for_update().filter(pk=ComplianceSettings.current().pk).get()
        messages = list(
            Message.objects.filter(pk__gt=org.intent_scanned_up_to, direction=Direction.INBOUND)
            .select_related("conversation", "sender_number")
            .order_by("pk")[:limit]
        )
        position = org.intent_scanned_up_to
        for message in messages:
            if message.routing_state == RoutingState.PENDING:
                break
            position = message.pk
            if message.routing_state == RoutingState.ROUTED and message.conversation_id:
                _look_at(message, org.auto_opt_out_on_intent)
        if position != org.intent_scanned_up_to:
            ComplianceSettings.objects.filter(pk=org.pk).update(intent_scanned_up_to=position)
    return len(messages)


def _look_at(message, automatic: bool) -> None:
    if optout.classify(message.body) is not None:
        return  # a keyword: already handled when it was routed
    intent = optout_intent.detect(message.body)
    if intent is None:
        return
    flag, created = OptOutFlag.objects.get_or_create(
        message=message,
        defaults={
            "conversation": message.conversation,
            "customer_e164": message.from_number,
            "language": intent.language,
            "phrase": intent.phrase[:100],
        },
    )
    if created and automatic:
        record(flag, user=None)


def open_flags(conversation):
    return OptOutFlag.objects.filter(conversation=conversation, state=FlagState.OPEN)


@transaction.atomic
def record(flag: OptOutFlag, user) -> OptOutFlag:
    """Record the opt-out the customer asked for in their words (for the number they wrote to)."""
    from textdesk.messaging.actions.consent import record_consent
    from textdesk.messaging.models import ConsentAction

    flag = OptOutFlag.objects.select_for_update(of=("self",)).select_related("message__sender_number").get(pk=flag.pk)
    if flag.state != FlagState.OPEN:
        return flag
    flag.state, flag.resolved_at, flag.resolved_by = FlagState.RECORDED, timezone.now(), user
    flag.save(update_fields=["state", "resolved_at", "resolved_by"])
    scope = flag.message.sender_number.e164 if flag.message.sender_number is not None else "*"
    token = hooks.intent_language.set(flag.language)
    try:
        record_consent(
            flag.customer_e164, scope, ConsentAction.OPT_OUT, "free_text", detail=flag.phrase, message=flag.message
        )
    finally:
        hooks.intent_language.reset(token)
    return flag


@transaction.atomic
def dismiss(flag: OptOutFlag, user) -> OptOutFlag:
    updated = OptOutFlag.objects.filter(pk=flag.pk, state=FlagState.OPEN).update(
        state=FlagState.DISMISSED, resolved_at=timezone.now(), resolved_by=user
    )
    flag.refresh_from_db()
    if updated:
        from textdesk.compliance import audit
        from textdesk.compliance.models import AuditAction

        audit.record(
            AuditAction.OPT_OUT_CHANGED,
            actor=user,
            target_type="number",
            target_id=flag.customer_e164,
            details={"action": "dismissed_free_text_request", "words": flag.phrase, "message": flag.message_id},
        )
    return flag
