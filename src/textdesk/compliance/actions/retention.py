"""The organisation's retention policy: messages older than N days deleted or anonymised, audit events
older than their own period deleted. Run by the worker once a day; ``dry_run`` only counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils import timezone

from textdesk.compliance import audit
from textdesk.compliance.models import AuditAction, AuditEvent, ComplianceSettings, RetentionAction


@dataclass(frozen=True)
class RetentionResult:
    messages: int
    action: str
    audit_events: int
    dry_run: bool

    def as_dict(self) -> dict:
        return asdict(self)


ANONYMISED_BODY = ""


def apply(dry_run: bool = False, now: dt.datetime | None = None) -> RetentionResult:
    from textdesk.messaging.models import Conversation, Message

    org = ComplianceSettings.current()
    now = now or timezone.now()
    messages = Message.objects.none()
    if org.message_retention_days:
        messages = Message.objects.filter(created_at__lt=now - dt.timedelta(days=org.message_retention_days))
        if org.message_retention_action == RetentionAction.ANONYMISE:
            messages = messages.exclude(body=ANONYMISED_BODY, from_number="", to_number="")
    old_audit = AuditEvent.objects.filter(at__lt=now - dt.timedelta(days=org.audit_retention_days))
    message_count, audit_count = messages.count(), old_audit.count()
    if dry_run:
        return RetentionResult(message_count, org.message_retention_action, audit_count, True)
    with transaction.atomic():
        if message_count and org.message_retention_days:  # messages are only selected under a retention
            if org.message_retention_action == RetentionAction.ANONYMISE:
                messages.update(body=ANONYMISED_BODY, from_number="", to_number="", provider_error_text="")
            else:
                messages.delete()
            cutoff = now - dt.timedelta(days=org.message_retention_days)
            Conversation.objects.filter(last_message_at__lt=cutoff).update(last_message_preview="")
        if audit_count:
            old_audit._raw_delete(old_audit.db)  # the only way audit events leave: their retention period
        ComplianceSettings.objects.filter(pk=org.pk).update(retention_ran_at=now)
        result = RetentionResult(message_count, org.message_retention_action, audit_count, False)
        audit.record(AuditAction.RETENTION, target_type="policy", target_id="messages", details=result.as_dict())
    return result


def due(now: dt.datetime | None = None) -> bool:
    org = ComplianceSettings.current()
    now = now or timezone.now()
    return org.retention_ran_at is None or now - org.retention_ran_at >= dt.timedelta(days=1)
