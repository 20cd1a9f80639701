"""Routing of stored inbound messages to their record and conversation (the worker side).

The webhook stored each message as ``routing_state="pending"``. A worker claims
a batch of them (rows locked by another worker are skipped on PostgreSQL), and in
one transaction, for each message: normalises the customer's number, gathers the
candidate records, lets :func:`textdesk.domain.routing.choose_record` pick one (or
creates a lead), attaches the message to the conversation, records consent keywords
and notifies (:mod:`.inbound_notify`). Live pushes go out after commit.

What the messages of a batch share (sender numbers, team members, users and their
privileges, candidate records and conversations of the batch's customers) is read
once for the whole batch, and their own writes are done together when it ends, see
:mod:`.routing_batch`. If routing one message raises, the batch is rolled back and
routed again with a savepoint per message: the one that cannot be routed is marked
failed, the others commit.

If a process dies mid-way the transaction rolls back and the messages are still
pending, so the next pass routes them: nothing is lost and nothing is routed twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import OperationalError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils.translation import gettext as _

from textdesk.crm.models import RECORD_MODELS, Lead, OwnedRecord
from textdesk.domain import optout
from textdesk.domain.routing import Candidate, ReceivingNumber, choose_record
from textdesk.jobs import queue
from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
from textdesk.messaging.inbound import routing_batch, routing_sql
from textdesk.messaging.inbound.leads import new_lead
from textdesk.messaging.inbound.notices import deliver, mark_failed, notify
from textdesk.messaging.inbound.routing_batch import (
    PHONE_RECORD_TYPES,
    Batch,
    current,
    customer_number,
    dialled_number,
    insert_conversations,
    lock_customers,
    seller_number_ids,
    sender_number,
    team_members,
)
from textdesk.messaging.models import Conversation, Direction, Message, MessageStatus, RoutingState, SenderNumber

log = logging.getLogger(__name__)

CONSENT_SIGNALS = (optout.OPT_OUT, optout.OPT_IN, optout.HELP)
# Messages routed per transaction: large enough to spread the commit and the shared reads, small enough that
# the row and advisory locks are held briefly. On PostgreSQL a batch of 200 routes set-based in ~40 ms of machine
# time (0.42 against 0.56 ms per message with batches of 50); on SQLite every batch holds the single write lock
# that webhooks wait for, so it stays small.
BATCH_POSTGRESQL = 200
BATCH_SQLITE = 50


def batch_size() -> int:
    return BATCH_POSTGRESQL if routing_sql.available() else BATCH_SQLITE


# ---------------------------------------------------------------- the poller


def route_pending(worker_id: str = "", limit: int | None = None) -> int:
    """Route up to ``limit`` (default: one batch) pending inbound messages, a batch per transaction; returns how
    many were handled."""
    size = batch_size()
    limit = size if limit is None else limit
    handled = 0
    while handled < limit:
        wanted = min(size, limit - handled)
        done = route_batch(wanted)
        handled += done
        if done < wanted:
            break  # none left when it claimed (or other workers hold them): no empty claim to find that out again
    return handled


def route_batch(size: int | None = None) -> int:
    """Claim up to ``size`` pending messages and route them in one transaction; returns how many were handled.

    The common case takes no savepoints: what the messages write (new leads and conversations, the messages
    themselves, the conversations' summaries) is written together, a statement each, when the batch ends.
    If routing one of them raises, the whole batch rolls back and its messages are routed again, each in a
    savepoint of its own (:func:`_route_with_savepoints`): the bad one is marked failed and the administrators
    are told, the others are routed. A database that is unreachable or busy (``OperationalError``) rolls back the
    whole batch: the messages stay pending for the next pass.
    """
    size = batch_size() if size is None else size
    claimed: list[int] = []
    if not queue.may_have_work(_pending()):
        return 0
    try:
        with transaction.atomic():
            if routing_sql.available():
                pending = routing_sql.claim(size)
                claimed = [m.id for m in pending]
                rest = routing_sql.route(pending)
                messages = list(Message.objects.filter(pk__in=rest).order_by("id")) if rest else []
                if not messages:
                    return len(claimed)
            else:
                messages = _claim(size)
                claimed = [m.pk for m in messages]
            if not messages:
                return 0
            batch = Batch.prepare(messages, deferred=True)
            routing_batch.start(batch)
            try:
                for message in messages:
                    route_message(message)
                    batch.used(message)
                _finish(batch)
            finally:
                routing_batch.stop()
        return len(claimed)
    except OperationalError:
        raise
    except Exception:
        if not claimed:
            raise
        log.warning("routing a batch of %s messages failed; routing them one by one", len(claimed), exc_info=True)
        return _route_with_savepoints(claimed)


def _route_with_savepoints(message_ids: list[int]) -> int:
    """Route the given messages (those still pending) in one transaction, a savepoint each."""
    with transaction.atomic():
        messages = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk__in=message_ids, routing_state=RoutingState.PENDING, direction=Direction.INBOUND)
            .order_by("id")
        )
        if not messages:
            return 0
        try:
            with transaction.atomic():
                batch = Batch.prepare(messages, deferred=False)
        except OperationalError:
            raise
        except Exception:  # what broke may be in the shared reads: read per message instead
            log.exception("preparing a batch of %s messages failed; reading per message", len(messages))
            batch = Batch(deferred=False)
        routing_batch.start(batch)
        try:
            for message in messages:
                _route_in_savepoint(message, batch)
            _finish(batch)
        finally:
            routing_batch.stop()
    return len(messages)


def _route_in_savepoint(message: Message, batch: Batch) -> None:
    try:
        with transaction.atomic():
            route_message(message)
        batch.keep_notifications()
    except OperationalError:
        raise
    except Exception:
        batch.drop_notifications()
        # A message that cannot be routed must not block the ones behind it, nor be lost.
        log.exception("routing message %s failed; marking it for an administrator", message.pk)
        message.refresh_from_db()  # undo what the rolled-back savepoint changed in memory
        with transaction.atomic():
            mark_failed(message, lambda: _("An error occurred while routing it."))
        batch.keep_notifications()
    finally:
        batch.used(message)


def _finish(batch: Batch) -> None:
    """Write what the batch deferred, then its notifications (they point at its conversations)."""
    batch.flush_writes()
    deliver(batch)


def _pending():
    return Message.objects.filter(routing_state=RoutingState.PENDING, direction=Direction.INBOUND)


def _claim(size: int) -> list[Message]:
    return list(_pending().select_for_update(skip_locked=True).order_by("id")[:size])


# ---------------------------------------------------------------- routing one message


def route_message(message: Message) -> None:
    """Route one claimed message (the caller holds the transaction and the row lock)."""
    our_number = sender_number(dialled_number(message))
    if our_number is None:
        mark_failed(message, lambda: _("%(number)s is not one of our sender numbers.") % {"number": message.to_number})
        return
    customer = customer_number(message, our_number)
    batch = current()
    if batch is None or customer not in batch.customers.values():
        lock_customers([customer])  # a batch took its customers' locks up front
    if batch is not None:
        batch.before(customer)

    decision = choose_record(gather_candidates(customer, our_number), receiving_number(our_number))
    if decision.candidate is None:
        record = create_lead(customer, our_number)
    else:
        record = routing_batch.record(decision.candidate.record_type, decision.candidate.record_id)
    conversation = conversation_for(record, customer, our_number)

    message.conversation = conversation
    message.sender_number = our_number
    message.routing_state = RoutingState.ROUTED
    message.routing_rule = decision.rule
    if batch is not None and batch.deferred:
        batch.defer_routed(message)
    else:
        message.save(update_fields=_ROUTED_FIELDS)
        _touch_conversation(conversation, message)
    _record_consent(message, customer, our_number)
    notify(message, conversation, our_number)


_ROUTED_FIELDS = ["conversation", "sender_number", "routing_state", "routing_rule", "updated_at"]


def receiving_number(number: SenderNumber) -> ReceivingNumber:
    members: frozenset[int] = frozenset()
    if number.owner_team_id:
        members = team_members(number.owner_team_id)
    return ReceivingNumber(
        owner_user_id=number.owner_user_id, owner_team_id=number.owner_team_id, team_member_ids=members
    )


_CANDIDATE_FIELDS = ("id", "owner_user_id", "owner_team_id", "is_active", "modified_at")


def gather_candidates(customer: str, number: SenderNumber) -> list[Candidate]:
    """Records whose phone fields hold the customer's number, and records already talking with it."""
    batch = current()
    if batch is not None and batch.is_fresh(customer):
        return _prefetched_candidates(batch, customer, number)
    last_talk: dict[tuple[str, int], object] = {}
    conversation_records: dict[str, set[int]] = defaultdict(set)
    seller_numbers = seller_number_ids(number)
    for conv in Conversation.objects.filter(customer_e164=customer).values(
        "record_type", "account_id", "contact_id", "opportunity_id", "lead_id", "sender_number_id", "last_message_at"
    ):
        record_id = conv[f"{conv['record_type']}_id"]
        if record_id is None:
            continue
        key = (conv["record_type"], record_id)
        conversation_records[conv["record_type"]].add(record_id)
        at = conv["last_message_at"]
        if conv["sender_number_id"] in seller_numbers and at is not None:
            if last_talk.get(key) is None or at > last_talk[key]:
                last_talk[key] = at

    candidates: list[Candidate] = []
    for record_type, model in RECORD_MODELS.items():
        match = Q(pk__in=conversation_records[record_type]) if conversation_records[record_type] else Q(pk__in=[])
        if record_type in PHONE_RECORD_TYPES and customer:
            # Each phone column has its own index; the OR becomes two index lookups.
            match |= Q(business_phone_e164=customer) | Q(mobile_phone_e164=customer)
        for row in model.objects.filter(match).values(*_CANDIDATE_FIELDS):
            candidates.append(
                Candidate(
                    record_type=record_type,
                    record_id=row["id"],
                    owner_user_id=row["owner_user_id"],
                    owner_team_id=row["owner_team_id"],
                    is_active=row["is_active"],
                    modified_at=row["modified_at"],
                    last_conversation_at=last_talk.get((record_type, row["id"])),
                )
            )
    return candidates


def _prefetched_candidates(batch: Batch, customer: str, number: SenderNumber) -> list[Candidate]:
    """The same candidates as :func:`gather_candidates`, from what the batch read for all its customers."""
    seller_numbers = seller_number_ids(number)
    last_talk: dict[tuple[str, int], object] = {}
    records: dict[tuple[str, int], OwnedRecord] = {}
    for conv in batch.conversations.get(customer, []):
        record_id = getattr(conv, f"{conv.record_type}_id")
        if record_id is None:
            continue
        key = (conv.record_type, record_id)
        records[key] = batch.records[key]
        at = conv.last_message_at
        if conv.sender_number_id in seller_numbers and at is not None:
            if last_talk.get(key) is None or at > last_talk[key]:
                last_talk[key] = at
    for record in batch.phone_records.get(customer, []):
        records[(record.record_type, record.pk)] = record
    return [
        Candidate(
            record_type=record_type,
            record_id=record_id,
            owner_user_id=r.owner_user_id,
            owner_team_id=r.owner_team_id,
            is_active=r.is_active,
            modified_at=r.modified_at,
            last_conversation_at=last_talk.get((record_type, record_id)),
        )
        for (record_type, record_id), r in records.items()
    ]


def create_lead(customer: str, number: SenderNumber) -> Lead:
    """The seed's "unknown number": a new lead named after the number, owned by the number's owner.

    In a deferred batch it is inserted with the batch's other new leads (it has no id until then)."""
    lead = new_lead(customer, number)
    batch = current()
    if batch is not None and batch.deferred:
        batch.defer_lead(lead)
    else:
        lead.save(force_insert=True)
    return lead


def conversation_for(record: OwnedRecord, customer: str, number: SenderNumber) -> Conversation:
    """The conversation of this record, customer and number of ours, created if there is none.

    In a deferred batch a new one is inserted with the batch's other new conversations (it has no id until
    then); one created elsewhere meanwhile is reused (see :func:`.routing_batch.insert_conversations`)."""
    batch = current()
    if record.pk is None:
        conversation = None  # a lead of this batch, not written yet: nothing can point at it
    elif batch is not None and batch.is_fresh(customer):
        for conversation in batch.conversations.get(customer, []):
            if conversation.record_key == record.record_key and conversation.sender_number_id == number.pk:
                conversation.sender_number = number
                setattr(conversation, record.record_type, record)
                return conversation
        conversation = None  # the batch read every conversation of this customer: there is none yet
    else:
        conversation = Conversation.objects.filter(
            record_key=record.record_key, customer_e164=customer, sender_number=number
        ).first()
    if conversation is not None:
        setattr(conversation, record.record_type, record)  # the notifications read its owner
        return conversation
    conversation = Conversation(customer_e164=customer, sender_number=number)
    conversation.set_record(record)
    if batch is not None and batch.deferred:
        batch.defer_conversation(conversation)
    else:
        insert_conversations([conversation])
    return conversation


def _touch_conversation(conversation: Conversation, message: Message) -> None:
    """One more unread message; the summary moves only if this is the latest message (one statement)."""
    latest = Q(last_message_at__isnull=True) | Q(last_message_at__lte=message.created_at)

    def if_latest(value, field: str):
        return Case(When(latest, then=Value(value)), default=F(field))

    Conversation.objects.filter(pk=conversation.pk).update(
        unread_count=F("unread_count") + 1,
        last_message_at=if_latest(message.created_at, "last_message_at"),
        last_message_preview=if_latest(message.body[:160], "last_message_preview"),
        last_direction=if_latest(Direction.INBOUND.value, "last_direction"),
        last_status=if_latest(MessageStatus.RECEIVED.value, "last_status"),
    )


def _record_consent(message: Message, customer: str, number: SenderNumber) -> None:
    signal = message.provider_status if message.provider_status in CONSENT_SIGNALS else None
    keyword = optout.classify(message.body)
    action = signal or (keyword.action if keyword else None)
    if action is None:
        return
    scope = ALL_NUMBERS if keyword and keyword.all_numbers and action == optout.OPT_OUT else number.e164
    record_consent(
        customer,
        scope,
        action,
        "provider_signal" if signal else "keyword",
        detail=keyword.word if keyword else signal,
        message=message,
    )
