"""Apply delivery reports to outbound messages: forward only, every change kept as history."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from textdesk.domain import failures
from textdesk.domain import status as st
from textdesk.live import bus
from textdesk.messaging.models import (
    ConsentAction, Message, MessageEvent, ProviderAccount, UnmatchedStatusUpdate,
)
from textdesk.providers.base import StatusReport


def _report_to_json(report: StatusReport) -> dict:
    return {
        "provider_message_id": report.provider_message_id, "provider_status": report.provider_status,
        "status": report.status, "error_code": report.error_code, "error_text": report.error_text,
        "failure_reason": report.failure_reason, "permanent": report.permanent, "opt_out": report.opt_out,
    }


def _report_from_json(data: dict) -> StatusReport:
    return StatusReport(**data)


@transaction.atomic
def apply_status_report(account: ProviderAccount, report: StatusReport) -> Message | None:
    """Apply one report. Returns the message, or None when it is not known yet (kept for later)."""
    message = (
        Message.objects.select_for_update()
        .filter(provider_account=account, provider_message_id=report.provider_message_id)
        .first()
    )
    if message is None:
        UnmatchedStatusUpdate.objects.create(
            provider_account=account, provider_message_id=report.provider_message_id, payload=_report_to_json(report)
        )
        return None
    _apply(message, report)
    return message


def _apply(message: Message, report: StatusReport) -> None:
    applies = st.should_apply(message.status, report.status)
    MessageEvent.objects.create(
        message=message, status=report.status or message.status, provider_status=report.provider_status[:40],
        provider_code=str(report.error_code)[:40], detail=report.error_text[:1000], applied=applies,
    )
    if report.opt_out:
        from textdesk.messaging.actions.consent import record_consent

        record_consent(message.to_number, message.from_number, ConsentAction.OPT_OUT, "provider_error",
                       detail=f"{report.provider_status} {report.error_code}".strip(), message=message)
    if not applies:
        return
    now = timezone.now()
    message.status = report.status
    message.provider_status = report.provider_status[:40]
    fields = ["status", "provider_status", "updated_at"]
    if report.status in (st.UNDELIVERED, st.FAILED):
        message.failure_reason = report.failure_reason or failures.UNKNOWN
        message.failure_permanent = report.permanent
        message.provider_error_code = str(report.error_code)[:40]
        message.provider_error_text = report.error_text[:1000]
        fields += ["failure_reason", "failure_permanent", "provider_error_code", "provider_error_text"]
    if report.status == st.SENT and message.sent_at is None:
        message.sent_at = now
        fields.append("sent_at")
    if report.status == st.DELIVERED:
        message.delivered_at = now
        fields.append("delivered_at")
    message.save(update_fields=fields)
    if message.conversation_id:
        from textdesk.messaging.models import Conversation

        Conversation.objects.filter(pk=message.conversation_id, last_message_at__lte=message.created_at).update(
            last_status=message.status
        )
        _push_status(message)


def _push_status(message: Message) -> None:
    from textdesk.messaging.notify import conversation_audience

    bus.notify_users_on_commit(
        conversation_audience(message.conversation), "message.status",
        {"conversation_id": message.conversation_id, "message_id": message.pk, "status": message.status},
    )


@transaction.atomic
def apply_pending_reports(message: Message) -> None:
    """Apply reports that arrived before ``message`` got its provider id (call after recording the id)."""
    pending = list(
        UnmatchedStatusUpdate.objects.select_for_update().filter(
            provider_account_id=message.provider_account_id, provider_message_id=message.provider_message_id
        ).order_by("received_at", "id")
    )
    if not pending:
        return
    message = Message.objects.select_for_update().get(pk=message.pk)
    for row in pending:
        _apply(message, _report_from_json(row.payload))
    UnmatchedStatusUpdate.objects.filter(pk__in=[r.pk for r in pending]).delete()
