"""Apply delivery reports to outbound messages: forward only, every change kept as history.

A message sent in separately reported parts (``MessagePart``) takes the combined status of its parts
(``domain.status.combine_parts``): delivered only when every part is, failed as soon as one part fails.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db import transaction
from django.utils import timezone

from textdesk.domain import failures
from textdesk.domain import status as st
from textdesk.messaging.models import (
    ConsentAction,
    Direction,
    Message,
    MessagePart,
    ProviderAccount,
    UnmatchedStatusUpdate,
)
from textdesk.messaging.outbound.transition import record_event, transition
from textdesk.providers.base import StatusReport

_DATETIME_FIELDS = ("occurred_at",)


def _report_to_json(report: StatusReport) -> dict:
    """The whole report as JSON (datetimes as ISO 8601), so a buffered report loses nothing."""
    data = dataclasses.asdict(report)
    for name in _DATETIME_FIELDS:
        if isinstance(data[name], dt.datetime):
            data[name] = data[name].isoformat()
    return data


def _report_from_json(data: dict) -> StatusReport:
    known = {f.name for f in dataclasses.fields(StatusReport)}
    values = {k: v for k, v in data.items() if k in known}
    for name in _DATETIME_FIELDS:
        if isinstance(values.get(name), str):
            values[name] = dt.datetime.fromisoformat(values[name])
    return StatusReport(**values)


def _find(account: ProviderAccount, provider_message_id: str) -> tuple[Message | None, MessagePart | None]:
    """The message a report is about (locked), and the part when the message is tracked in parts."""
    message = (
        Message.objects.select_for_update()
        .filter(provider_account=account, provider_message_id=provider_message_id)
        .first()
    )
    if message is not None and message.segments < 2:
        return message, None
    part = (
        MessagePart.objects.select_for_update()
        .filter(provider_account=account, provider_message_id=provider_message_id)
        .first()
    )
    if part is not None and message is None:
        message = Message.objects.select_for_update().get(pk=part.message_id)
    return message, part


@transaction.atomic
def apply_status_report(account: ProviderAccount, report: StatusReport) -> Message | None:
    """Apply one report. Returns the message, or None when it is not known yet (kept for later)."""
    message, part = _find(account, report.provider_message_id)
    if message is None:
        UnmatchedStatusUpdate.objects.create(
            provider_account=account, provider_message_id=report.provider_message_id, payload=_report_to_json(report)
        )
        return None
    _apply(message, report, part)
    return message


def _apply(message: Message, report: StatusReport, part: MessagePart | None = None) -> None:
    new_status = report.status
    note = ""
    if part is not None:
        note = f"part {part.number}"
        if report.status is not None and st.should_apply(part.status, report.status):
            part.status = report.status
            part.provider_status = report.provider_status[:40]
            part.save(update_fields=["status", "provider_status"])
        new_status = st.combine_parts(
            list(MessagePart.objects.filter(message=message).values_list("status", flat=True))
        )
    event_status = report.status or message.status
    detail = ": ".join(filter(None, [note, report.error_text]))
    if report.opt_out:
        from textdesk.messaging.actions.consent import record_consent

        record_consent(
            message.to_number,
            message.from_number,
            ConsentAction.OPT_OUT,
            "provider_error",
            detail=f"{report.provider_status} {report.error_code}".strip(),
            message=message,
        )
    applied = False
    # (should_apply refuses None; the test is spelled out for the type checker.)
    if (
        new_status is not None
        and message.direction == Direction.OUTBOUND
        and st.should_apply(message.status, new_status)
    ):
        applied = (
            transition(
                message,
                new_status,
                expect={message.status},
                fields=_report_fields(message, report, new_status),
                provider_status=report.provider_status,
                code=report.error_code,
                detail=detail,
                event_status=event_status,
                notice=False,  # a report's failure reaches the seller in the pane; sequences hear the signal
            )
            is not None
        )
    if not applied:
        record_event(
            message,
            event_status,
            provider_status=report.provider_status,
            code=report.error_code,
            detail=detail,
            applied=False,
        )


def _report_fields(message: Message, report: StatusReport, new_status: str) -> dict:
    fields: dict = {"provider_status": report.provider_status[:40]}
    if new_status in (st.UNDELIVERED, st.FAILED):
        fields["failure_reason"] = report.failure_reason or failures.UNKNOWN
        fields["failure_permanent"] = report.permanent
        fields["provider_error_code"] = str(report.error_code)[:40]
        fields["provider_error_text"] = report.error_text[:1000]
    if new_status == st.SENT and message.sent_at is None:
        fields["sent_at"] = timezone.now()
    if new_status == st.DELIVERED:
        fields["delivered_at"] = timezone.now()
        if message.failure_reason == failures.NO_DELIVERY_REPORT:
            fields["failure_reason"] = ""  # the report came after all
    return fields


def apply_pending_in_transaction(message: Message) -> Message:
    """Apply reports that arrived before ``message`` got its provider id, inside the caller's transaction (the
    worker's, recording the id).

    Returns the message as it now stands (``message`` itself when no report was waiting)."""
    ids = [message.provider_message_id]
    parts = {}
    if message.segments > 1:
        parts = {p.provider_message_id: p for p in MessagePart.objects.select_for_update().filter(message=message)}
        ids += [pid for pid in parts if pid != message.provider_message_id]
    pending = list(
        UnmatchedStatusUpdate.objects.select_for_update()
        .filter(provider_account_id=message.provider_account_id, provider_message_id__in=ids)
        .order_by("received_at", "id")
    )
    if not pending:
        return message
    conversation = message.conversation if message.conversation_id else None
    message = Message.objects.select_for_update().get(pk=message.pk)
    if conversation is not None:
        message.conversation = conversation
    for row in pending:
        _apply(message, _report_from_json(row.payload), parts.get(row.provider_message_id))
    UnmatchedStatusUpdate.objects.filter(pk__in=[r.pk for r in pending]).delete()
    return message
