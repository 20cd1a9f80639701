"""Sending a text message: every check first, then the message and its queue entry in one transaction."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from textdesk import errors
from textdesk.compliance import gate
from textdesk.domain import failures, phones, segments
from textdesk.domain import status as st
from textdesk.jobs import queue, retry
from textdesk.live import bus
from textdesk.messaging.models import Conversation, Direction, Message, MessageEvent, SenderNumber
from textdesk.messaging.outbound.recipients import check_recipient_on_record
from textdesk.org.models import OrganisationSettings

MISSING_PRIVILEGE = "MissingPrivilege"
SEND_JOB = "send_message"


class SendRefused(errors.Refusal):
    """A send that cannot be queued: a neutral ``reason`` (its ``code``), a translated ``message`` and a ``fix``."""

    status = 422

    def __init__(self, reason: str, message: str = "", fix: str = ""):
        described = failures.describe(reason)
        super().__init__(message or str(described.title), code=reason, fix=fix or str(described.fix))
        self.reason = reason
        self.status = 403 if reason == MISSING_PRIVILEGE else 422

    def as_dict(self) -> dict:
        return {"reason": self.reason, "message": self.message, "fix": self.fix}

    def as_json(self) -> dict:
        return {**super().as_json(), **self.as_dict()}


def record_phone_numbers(record) -> list[str]:
    return [p["e164"] for p in record.phone_numbers() if p["e164"]]


def _check_recipient(record, to_number: str) -> str:
    to_number = (to_number or "").strip()
    if to_number in record_phone_numbers(record) or phones.is_e164(to_number):
        return to_number
    raise SendRefused(
        failures.INVALID_SENDING_PARAMETERS,
        _("The number %(number)s is not a valid phone number in international format.") % {"number": to_number or '""'},
        _("Use the international format, e.g. +5511912345678."),
    )


def sender_numbers_for(user) -> Q:
    """Sender numbers a user may send from: their own, or their teams'."""
    return Q(owner_user=user) | Q(owner_team__in=user.teams.all())


def _owner_numbers(record) -> Q:
    """For system sends (sequences): numbers of the record's owner, or of a team of theirs."""
    if record.owner_user_id:
        return Q(owner_user_id=record.owner_user_id) | Q(owner_team__members=record.owner_user_id)
    return Q(owner_team_id=record.owner_team_id) | Q(owner_user__teams=record.owner_team_id)


def _check_sender(user, record, sender_number: SenderNumber) -> None:
    allowed = sender_numbers_for(user) if user is not None else _owner_numbers(record)
    if not sender_number.is_active or not SenderNumber.objects.filter(allowed, pk=sender_number.pk).exists():
        raise SendRefused(
            failures.SENDER_NOT_ALLOWED,
            _("You cannot send from %(number)s.") % {"number": sender_number.e164},
        )


def _check_body(body: str) -> None:
    if not (body or "").strip():
        raise SendRefused(failures.EMPTY_BODY)
    limit = OrganisationSettings.current().message_body_limit
    if len(body) > limit:
        raise SendRefused(
            failures.BODY_TOO_LONG,
            _("The message has %(length)d characters; the limit is %(limit)d.") % {"length": len(body), "limit": limit},
            _("Shorten the message by %(excess)d characters.") % {"excess": len(body) - limit},
        )


def conversation_for(record, customer_e164: str, sender_number: SenderNumber) -> Conversation:
    """Get or create the conversation for (record, customer number, our number), safe against a concurrent create."""
    lookup = {"record_key": record.record_key, "customer_e164": customer_e164, "sender_number": sender_number}
    found = Conversation.objects.filter(**lookup).first()
    if found is not None:
        return found
    conversation = Conversation(customer_e164=customer_e164, sender_number=sender_number)
    conversation.set_record(record)
    try:
        with transaction.atomic():  # a savepoint: losing the race must not break the caller's transaction
            conversation.save()
    except IntegrityError:
        return Conversation.objects.get(**lookup)
    return conversation


def send_message(
    *,
    user,
    record,
    sender_number: SenderNumber,
    to_number: str,
    body: str,
    send_at: dt.datetime | None = None,
    source: str = "ui",
    add_number_to_record: bool = False,
) -> Message:
    """Queue one outbound message, or raise SendRefused before anything is written.

    ``user=None`` is a system send (e.g. a sequence step) on behalf of the record's owner.
    """
    if user is not None and not user.has_perm("org.send_messages"):
        raise SendRefused(
            MISSING_PRIVILEGE,
            _("You do not have the privilege to send text messages."),
            _("Ask your administrator for the Send text messages privilege."),
        )
    to_number = _check_recipient(record, to_number)
    # An opted-out or erased number is refused for that reason first: it is the one that tells the seller why.
    gate.check_send(to_number=to_number, sender_number=sender_number, body=body, source=source)  # opt-out, consent
    check_recipient_on_record(record, to_number, add_to_record=add_number_to_record)
    _check_sender(user, record, sender_number)
    _check_body(body)

    now = timezone.now()
    scheduled = send_at is not None and send_at > now
    counted = segments.count(body)
    key = uuid.uuid4()  # the message's idempotency key, known before the first try: a retry finds its own work

    def write(attempt: int) -> Message:
        if attempt > 1:
            # The connection may have broken during an earlier COMMIT that did keep the message.
            kept = Message.objects.filter(idempotency_key=key).first()
            if kept is not None:
                queue.wake_on_commit()
                return kept
        return _write_message(
            user, record, sender_number, to_number, body, counted, send_at if scheduled else None, now, source, key
        )

    # A deadlock or a lost connection rolls the whole write back: it runs again from the start.
    return retry.in_transaction(write, patience=SEND_PATIENCE, ambiguous_commit_ok=True)


# Seconds a send keeps trying through lost races and a database that went away for a moment.
SEND_PATIENCE = 10.0


def _write_message(user, record, sender_number, to_number, body, counted, send_after, now, source, key) -> Message:
    """The message, its first history entry, its conversation's summary and its job: one transaction."""
    conversation = conversation_for(record, to_number, sender_number)
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        provider_account_id=sender_number.provider_account_id,
        sender_number=sender_number,
        from_number=sender_number.e164,
        to_number=to_number,
        body=body,
        segments=max(1, counted.segments),
        encoding=counted.encoding,
        status=st.SCHEDULED if send_after else st.QUEUED,
        author=user,
        send_after=send_after,
        idempotency_key=key,
    )
    MessageEvent.objects.create(message=message, status=message.status, detail=f"source={source}"[:1000])
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=message.created_at,
        last_message_preview=body[:160],
        last_direction=Direction.OUTBOUND,
        last_status=message.status,
    )
    queue.enqueue(SEND_JOB, {"message_id": message.pk}, run_at=message.send_after or now)
    from textdesk.messaging.notify import conversation_audience

    bus.notify_users_on_commit(
        conversation_audience(conversation),
        "message.new",
        {
            "conversation_id": conversation.pk,
            "message_id": message.pk,
            "direction": Direction.OUTBOUND,
            "status": message.status,
        },
    )
    return message
