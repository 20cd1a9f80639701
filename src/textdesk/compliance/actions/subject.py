"""The data subject's rights for one phone number: export everything TextDesk holds, or erase it.

Erasure removes the person's messages and conversations, their consent history and opt-out suggestions,
blanks their phone numbers, names and e-mail on the CRM records that carry the number, and rewrites the
number to a keyed hash in the audit trail. What stays is :class:`ErasedNumber`, the hash alone, so a later
send to the number is still refused (until the customer texts START again).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from textdesk.compliance import audit
from textdesk.compliance.models import (
    AuditAction,
    AuditEvent,
    AutoReplySent,
    ConsentRecord,
    ErasedNumber,
    OptOutFlag,
    number_hash,
)
from textdesk.domain import phones

ERASED_NAME = "(erased)"


class InvalidNumber(ValueError):
    pass


def _checked(number: str) -> str:
    number = (number or "").strip()
    if not phones.is_e164(number):
        raise InvalidNumber("the number must be in E.164 format, e.g. +5511912345678")
    return number


def _records_with(number: str) -> list:
    from textdesk.crm.models import PHONE_FIELDS, RECORD_MODELS

    found = []
    for model in RECORD_MODELS.values():
        fields = [f for f in PHONE_FIELDS if hasattr(model, f)]
        if not fields:
            continue
        query = Q()
        for field in fields:
            query |= Q(**{f"{field}_e164": number})
        found.extend(model.objects.filter(query))
    return found


def _messages_of(number: str):
    from textdesk.messaging.models import Message

    return Message.objects.filter(
        Q(conversation__customer_e164=number)
        | Q(direction="inbound", from_number=number)
        | Q(direction="outbound", to_number=number)
    )


def _record_row(record) -> dict:
    row = {"type": record.record_type, "id": record.pk, "name": str(record)}
    for field in ("first_name", "last_name", "email", "business_phone", "mobile_phone", "topic", "company_name"):
        if hasattr(record, field):
            row[field] = getattr(record, field)
    return row


def collect(number: str) -> dict:
    """Everything held about ``number``, as plain data."""
    from textdesk.messaging.models import ConsentEvent, OptOut

    number = _checked(number)
    messages = _messages_of(number).select_related("conversation").order_by("created_at", "pk")
    return {
        "number": number,
        "exported_at": timezone.now(),
        "records": [_record_row(r) for r in _records_with(number)],
        "messages": [
            {
                "id": m.pk,
                "at": m.created_at,
                "direction": m.direction,
                "from": m.from_number,
                "to": m.to_number,
                "body": m.body,
                "status": m.status,
                "record": m.conversation.record_key if m.conversation_id else "",
            }
            for m in messages
        ],
        "consents": [
            {
                "at": c.at,
                "purpose": c.purpose,
                "granted": c.granted,
                "method": c.method,
                "wording": c.wording,
                "legal_basis": c.legal_basis,
                "recorded_by": str(c.recorded_by or ""),
            }
            for c in ConsentRecord.objects.filter(customer_e164=number).order_by("at", "pk")
        ],
        "opt_outs": [
            {"scope": o.scope, "opted_out": o.is_opted_out, "source": o.source, "updated_at": o.updated_at}
            for o in OptOut.objects.filter(customer_e164=number)
        ],
        "consent_events": [
            {"at": e.at, "scope": e.scope, "action": e.action, "source": e.source, "detail": e.detail}
            for e in ConsentEvent.objects.filter(customer_e164=number).order_by("at", "pk")
        ],
        "audit_events": [
            {"at": a.at, "who": a.actor_name, "action": a.action, "target": f"{a.target_type}:{a.target_id}"}
            for a in _audit_of(number).order_by("at", "pk")
        ],
    }


def _audit_of(number: str):
    return AuditEvent.objects.filter(Q(target_id=number) | Q(details__to=number) | Q(details__from=number))


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def export_archive(number: str, user=None) -> tuple[str, bytes]:
    """(file name, zip bytes) with ``person.json`` and one CSV per kind of data; leaves an audit event."""
    data = collect(number)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
        for kind in ("records", "messages", "consents", "opt_outs", "consent_events", "audit_events"):
            rows = json.loads(json.dumps(data[kind], cls=DjangoJSONEncoder))
            archive.writestr(f"{kind}.csv", _csv(rows))
    audit.record(
        AuditAction.EXPORTED,
        actor=user,
        target_type="number",
        target_id=data["number"],
        details={"messages": len(data["messages"]), "records": len(data["records"])},
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return f"person-{data['number'].lstrip('+')}-{stamp}.zip", buffer.getvalue()


@dataclass(frozen=True)
class Erased:
    number_hash: str
    messages: int
    conversations: int
    records: int
    consents: int


@transaction.atomic
def erase(number: str, user=None) -> Erased:
    """Erase the person behind ``number``; their opt-out survives as a hash."""
    from textdesk.messaging.models import ConsentEvent, Conversation, Notification, OptOut

    number = _checked(number)
    hashed = number_hash(number)
    conversations = Conversation.objects.filter(customer_e164=number)
    messages = _messages_of(number)
    message_count = messages.count()
    Notification.objects.filter(Q(conversation__in=conversations) | Q(message__in=messages)).delete()
    OptOutFlag.objects.filter(Q(customer_e164=number) | Q(message__in=messages)).delete()
    AutoReplySent.objects.filter(customer_e164=number).delete()
    ConsentEvent.objects.filter(customer_e164=number).delete()
    messages.delete()
    conversation_count = conversations.count()
    conversations.delete()
    OptOut.objects.filter(customer_e164=number).delete()
    consent_count, _ = ConsentRecord.objects.filter(customer_e164=number).delete()
    records = _records_with(number)
    for record in records:
        _anonymise(record, number)
    # The audit trail is append-only, except that erasure replaces the number with its hash.
    pseudonym = f"erased:{hashed[:16]}"
    AuditEvent.objects.filter(target_id=number).update(target_id=pseudonym)
    AuditEvent.objects.filter(Q(details__to=number) | Q(details__from=number)).update(details={"erased": True})
    ErasedNumber.objects.update_or_create(number_hash=hashed, defaults={"opted_out": True, "erased_at": timezone.now()})
    audit.record(
        AuditAction.ERASED,
        actor=user,
        target_type="number",
        target_id=pseudonym,
        details={"messages": message_count, "conversations": conversation_count, "records": len(records)},
    )
    return Erased(hashed, message_count, conversation_count, len(records), consent_count)


def _anonymise(record, number: str) -> None:
    from textdesk.crm.models import PHONE_FIELDS

    changed = []
    for field in PHONE_FIELDS:
        if getattr(record, f"{field}_e164", None) == number:
            setattr(record, field, "")
            changed.append(field)
    if record.record_type in ("contact", "lead"):
        record.first_name, record.last_name, record.email = "", ERASED_NAME, ""
        changed += ["first_name", "last_name", "email"]
    if changed:
        record.save(update_fields=changed)


def lift_erasure_block(number: str) -> None:
    """The customer texted START again: their erased opt-out no longer blocks."""
    ErasedNumber.objects.filter(number_hash=number_hash(number)).update(opted_out=False)
