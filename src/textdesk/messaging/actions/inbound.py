"""Routing of stored inbound messages to their record and conversation (the worker side).

The webhook stored each message as ``routing_state="pending"``. A worker claims
a batch of them (rows locked by another worker are skipped on PostgreSQL), and in
one transaction, for each message: normalises the customer's number, gathers the
candidate records, lets :func:`textdesk.domain.routing.choose_record` pick one (or
creates a lead), attaches the message to the conversation, records consent keywords
and writes the notifications. Live pushes go out after commit.

Each message of a batch runs in its own savepoint: one that cannot be routed is
rolled back alone and marked failed, the others commit. What the messages of a batch
share (sender numbers, team members, users and their privileges, candidate records
and conversations of the batch's customers) is read once for the whole batch, see
:class:`_Batch`; a customer's prefetched candidates serve only that customer's first
message of the batch, later ones read afresh, so they see the lead or conversation the
earlier one created.

If a process dies mid-way the transaction rolls back and the messages are still
pending, so the next pass routes them: nothing is lost and nothing is routed twice.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from textdesk.crm.models import RECORD_MODELS, Lead, OwnedRecord, RecordType
from textdesk.domain import optout, phones
from textdesk.domain.routing import Candidate, ReceivingNumber, choose_record
from textdesk.live import bus
from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
from textdesk.messaging.models import (
    Conversation, Direction, Message, MessageStatus, Notification, NotificationKind, RoutingState, SenderNumber,
)

log = logging.getLogger(__name__)

RECEIVE_PERMISSION = "org.receive_inbound_messages"
PHONE_RECORD_TYPES = (RecordType.ACCOUNT, RecordType.CONTACT, RecordType.LEAD)
CONSENT_SIGNALS = (optout.OPT_OUT, optout.OPT_IN, optout.HELP)
BATCH = 50
# Messages routed per transaction: large enough to spread the commit and the shared reads,
# small enough that the row and advisory locks are held briefly.
ROUTE_BATCH = 50


# ---------------------------------------------------------------- the poller


def route_pending(worker_id: str = "", limit: int = BATCH) -> int:
    """Route up to ``limit`` pending inbound messages, a batch per transaction; returns how many were handled."""
    handled = 0
    while handled < limit:
        done = route_batch(min(ROUTE_BATCH, limit - handled))
        if not done:
            break
        handled += done
    return handled


def route_next() -> bool:
    """Claim and route the oldest pending inbound message. False when there is none."""
    return route_batch(1) > 0


def route_batch(size: int = ROUTE_BATCH) -> int:
    """Claim up to ``size`` pending messages and route them in one transaction; returns how many were handled.

    The common case takes no savepoints: the messages' own updates are written together when the batch ends.
    If routing one of them raises, the whole batch rolls back and its messages are routed again, each in a
    savepoint of its own (:func:`_route_with_savepoints`): the bad one is marked failed and the administrators
    are told, the others are routed. A database that is unreachable or busy (``OperationalError``) rolls back the
    whole batch: the messages stay pending for the next pass.
    """
    claimed: list[int] = []
    try:
        with transaction.atomic():
            messages = _claim(size)
            if not messages:
                return 0
            claimed = [m.pk for m in messages]
            batch = _Batch.prepare(messages, deferred=True)
            _local.batch = batch
            try:
                for message in messages:
                    route_message(message)
                    batch.used(message)
                batch.finish()
            finally:
                _local.batch = None
        return len(messages)
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
                batch = _Batch.prepare(messages, deferred=False)
        except OperationalError:
            raise
        except Exception:  # what broke may be in the shared reads: read per message instead
            log.exception("preparing a batch of %s messages failed; reading per message", len(messages))
            batch = _Batch(deferred=False)
        _local.batch = batch
        try:
            for message in messages:
                _route_in_savepoint(message, batch)
            batch.finish()
        finally:
            _local.batch = None
    return len(messages)


def _route_in_savepoint(message: Message, batch: "_Batch") -> None:
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
            _mark_failed(message, lambda: _("An error occurred while routing it."))
        batch.keep_notifications()
    finally:
        batch.used(message)


def _claim(size: int) -> list[Message]:
    return list(
        Message.objects.select_for_update(skip_locked=True)
        .filter(routing_state=RoutingState.PENDING, direction=Direction.INBOUND)
        .order_by("id")[:size]
    )


# ---------------------------------------------------------------- what a batch reads once

_local = threading.local()


def _current() -> "_Batch | None":
    return getattr(_local, "batch", None)


@dataclass
class _Batch:
    """Reads shared by the messages of one batch (valid inside the batch's transaction only)."""

    numbers: dict[str, SenderNumber | None] = field(default_factory=dict)
    team_members: dict[int, frozenset[int]] = field(default_factory=dict)
    seller_numbers: dict[tuple[int | None, int | None], set[int]] = field(default_factory=dict)
    users: dict[int, object] = field(default_factory=dict)  # active users by id
    may_receive: set[int] = field(default_factory=set)  # those of ``users`` holding RECEIVE_PERMISSION
    whom: dict[int, str] = field(default_factory=dict)
    # Per customer, for that customer's first message of the batch only:
    conversations: dict[str, list[Conversation]] = field(default_factory=dict)
    records: dict[tuple[str, int], OwnedRecord] = field(default_factory=dict)
    phone_records: dict[str, list[OwnedRecord]] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)
    customers: dict[int, str] = field(default_factory=dict)  # message id → customer
    pending_notifications: list[Notification] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    unread_users: set[int] = field(default_factory=set)
    pending_unread: set[int] = field(default_factory=set)
    # Live pushes of the batch, published together after commit (one Redis round trip per batch).
    pending_events: list[tuple[str, dict]] = field(default_factory=list)
    events: list[tuple[str, dict]] = field(default_factory=list)
    # With ``deferred``, routed messages and conversation touches are written together (see flush_writes).
    deferred: bool = False
    routed: list[Message] = field(default_factory=list)
    touches: dict[int, list[Message]] = field(default_factory=dict)  # conversation id → its new messages
    seen: set[str] = field(default_factory=set)  # customers whose message was routed already

    @classmethod
    def prepare(cls, messages: list[Message], deferred: bool = False) -> "_Batch":
        batch = cls(deferred=deferred)
        wanted = {phones.normalise(m.to_number).e164 or m.to_number.strip() for m in messages}
        batch.numbers = dict.fromkeys(wanted)
        for number in SenderNumber.objects.select_related("owner_team").filter(e164__in=wanted):
            batch.numbers[number.e164] = number
        for m in messages:
            number = batch.numbers[phones.normalise(m.to_number).e164 or m.to_number.strip()]
            if number is not None:
                batch.customers[m.pk] = _customer_number(m, number)
        customers = sorted(set(batch.customers.values()))
        if customers:
            _lock_customers(customers)
            batch._prefetch(customers)
        return batch

    def _prefetch(self, customers: list[str]) -> None:
        """Candidate records and conversations of every customer of the batch, in one query per table."""
        self.fresh = set(customers)
        dialled = [c for c in customers if c]
        by_pk: dict[str, set[int]] = defaultdict(set)
        for conv in Conversation.objects.filter(customer_e164__in=customers).order_by():
            self.conversations.setdefault(conv.customer_e164, []).append(conv)
            record_id = getattr(conv, f"{conv.record_type}_id")
            if record_id is not None:
                by_pk[conv.record_type].add(record_id)
        for record_type, model in RECORD_MODELS.items():
            match = Q(pk__in=by_pk[record_type]) if by_pk[record_type] else Q(pk__in=[])
            with_phone = record_type in PHONE_RECORD_TYPES and dialled
            if with_phone:
                match |= Q(business_phone_e164__in=dialled) | Q(mobile_phone_e164__in=dialled)
            if not by_pk[record_type] and not with_phone:
                continue
            for record in model.objects.filter(match).order_by():
                self.records[(record_type, record.pk)] = record
                if record_type in PHONE_RECORD_TYPES:
                    for phone in {record.business_phone_e164, record.mobile_phone_e164} & set(dialled):
                        self.phone_records.setdefault(phone, []).append(record)

    def is_fresh(self, customer: str) -> bool:
        return customer in self.fresh

    def used(self, message: Message) -> None:
        """After a message: its customer's prefetched reads may be stale now (a lead, a conversation, a touch)."""
        customer = self.customers.get(message.pk, "")
        self.fresh.discard(customer)
        self.seen.add(customer)
        self.keep_notifications()

    def before(self, customer: str) -> None:
        """Before routing a message: if its customer had one routed already in this batch, write what is deferred,
        so this one reads the database as if the earlier one had been committed on its own."""
        if customer in self.seen:
            self.flush_writes()

    def defer_routed(self, message: Message, conversation: Conversation) -> None:
        self.routed.append(message)
        self.touches.setdefault(conversation.pk, []).append(message)

    def flush_writes(self) -> None:
        if self.routed:
            _save_routed(self.routed)
            self.routed = []
        if self.touches:
            _touch_conversations(self.touches)
            self.touches = {}

    def keep_notifications(self) -> None:
        self.notifications += self.pending_notifications
        self.unread_users |= self.pending_unread
        self.events += self.pending_events
        self.pending_notifications, self.pending_unread, self.pending_events = [], set(), []

    def drop_notifications(self) -> None:
        self.pending_notifications, self.pending_unread, self.pending_events = [], set(), []

    def finish(self) -> None:
        """Write what is deferred and the batch's notifications at once; push each user's unread count once."""
        self.keep_notifications()
        self.flush_writes()
        Notification.objects.bulk_create(self.notifications)
        self.events += _unread_events(self.unread_users)
        bus.publish_many_on_commit(self.events)


def _customer_number(message: Message, our_number: SenderNumber) -> str:
    region = phones.region_of(our_number.e164)
    return phones.normalise(message.from_number, region).e164 or message.from_number.strip()[:16]


def _lock_customers(customers: list[str]) -> None:
    """Two messages from one new customer, routed at once, must not create two leads.

    The locks of a batch are taken in one statement, in a fixed order, so two workers never wait on each other
    in a cycle.
    """
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time already
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM ("
            " SELECT DISTINCT hashtextextended('route:' || c, 0) AS k FROM unnest(%s::text[]) AS c ORDER BY k"
            ") AS locks", [customers])


def _sender_number(e164: str) -> SenderNumber | None:
    batch = _current()
    if batch is not None and e164 in batch.numbers:
        return batch.numbers[e164]
    return SenderNumber.objects.select_related("owner_team").filter(e164=e164).first()


def _team_members(team_id: int) -> frozenset[int]:
    batch = _current()
    if batch is not None and team_id in batch.team_members:
        return batch.team_members[team_id]
    from textdesk.org.models import Team

    members = frozenset(Team.members.through.objects.filter(team_id=team_id).values_list("user_id", flat=True))
    if batch is not None:
        batch.team_members[team_id] = members
    return members


def _active_users(ids) -> list:
    """Active users by id, in id order; within a batch each is read once (with its privilege cache)."""
    from textdesk.org.models import User

    ids = set(ids)
    batch = _current()
    if batch is None:
        return list(User.objects.filter(pk__in=ids, is_active=True).order_by("pk"))
    missing = ids - batch.users.keys()
    if missing:
        batch.users.update(dict.fromkeys(missing))
        for user in User.objects.filter(pk__in=missing, is_active=True):
            batch.users[user.pk] = user
        batch.may_receive |= _receive_permission_holders(missing)
    return [batch.users[i] for i in sorted(ids) if batch.users[i] is not None]


def _receive_permission_holders(ids) -> set[int]:
    """Which of these users may receive inbound messages, in one query (what ``user.has_perm`` answers with
    Django's model backend: active superusers, and active users holding the permission directly or by group)."""
    from textdesk.org.models import User

    app_label, codename = RECEIVE_PERMISSION.split(".")
    direct = Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app_label)
    by_group = Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label)
    return set(User.objects.filter(Q(is_superuser=True) | direct | by_group, pk__in=ids, is_active=True)
               .values_list("pk", flat=True).distinct())


def _may_receive(user) -> bool:
    batch = _current()
    if batch is not None and user.pk in batch.users:
        return user.pk in batch.may_receive
    return user.has_perm(RECEIVE_PERMISSION)


# ---------------------------------------------------------------- routing one message


def route_message(message: Message) -> None:
    """Route one claimed message (the caller holds the transaction and the row lock)."""
    our_e164 = phones.normalise(message.to_number).e164 or message.to_number.strip()
    our_number = _sender_number(our_e164)
    if our_number is None:
        _mark_failed(message, lambda: _("%(number)s is not one of our sender numbers.") % {"number": message.to_number})
        return
    customer = _customer_number(message, our_number)
    batch = _current()
    if batch is None or customer not in batch.customers.values():
        _lock_customers([customer])  # a batch took its customers' locks up front
    if batch is not None:
        batch.before(customer)

    decision = choose_record(gather_candidates(customer, our_number), receiving_number(our_number))
    if decision.candidate is None:
        record = create_lead(customer, our_number)
    else:
        record = _record(decision.candidate.record_type, decision.candidate.record_id)
    conversation = conversation_for(record, customer, our_number)

    message.conversation = conversation
    message.sender_number = our_number
    message.routing_state = RoutingState.ROUTED
    message.routing_rule = decision.rule
    if batch is not None and batch.deferred:
        batch.defer_routed(message, conversation)
    else:
        message.save(update_fields=_ROUTED_FIELDS)
        _touch_conversation(conversation, message)
    _record_consent(message, customer, our_number)
    _notify(message, conversation, our_number)


_ROUTED_FIELDS = ["conversation", "sender_number", "routing_state", "routing_rule", "updated_at"]


def _record(record_type: str, record_id: int) -> OwnedRecord:
    batch = _current()
    if batch is not None and (record_type, record_id) in batch.records:
        return batch.records[(record_type, record_id)]
    return RECORD_MODELS[record_type].objects.get(pk=record_id)


def receiving_number(number: SenderNumber) -> ReceivingNumber:
    members: frozenset[int] = frozenset()
    if number.owner_team_id:
        members = _team_members(number.owner_team_id)
    return ReceivingNumber(owner_user_id=number.owner_user_id, owner_team_id=number.owner_team_id,
                           team_member_ids=members)


def _seller_number_ids(number: SenderNumber) -> set[int]:
    """The receiving number and every other number of the same owner (the "seller" of rule 1)."""
    batch = _current()
    owner = (number.owner_user_id, None if number.owner_user_id else number.owner_team_id)
    if batch is not None and owner in batch.seller_numbers:
        return batch.seller_numbers[owner] | {number.pk}
    if number.owner_user_id:
        same_owner = Q(owner_user_id=number.owner_user_id)
    else:
        same_owner = Q(owner_team_id=number.owner_team_id)
    ids = set(SenderNumber.objects.filter(same_owner).values_list("id", flat=True))
    if batch is not None:
        batch.seller_numbers[owner] = ids
    return ids | {number.pk}


_CANDIDATE_FIELDS = ("id", "owner_user_id", "owner_team_id", "is_active", "modified_at")


def gather_candidates(customer: str, number: SenderNumber) -> list[Candidate]:
    """Records whose phone fields hold the customer's number, and records already talking with it."""
    batch = _current()
    if batch is not None and batch.is_fresh(customer):
        return _prefetched_candidates(batch, customer, number)
    last_talk: dict[tuple[str, int], object] = {}
    conversation_records: dict[str, set[int]] = defaultdict(set)
    seller_numbers = _seller_number_ids(number)
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
            candidates.append(Candidate(
                record_type=record_type, record_id=row["id"], owner_user_id=row["owner_user_id"],
                owner_team_id=row["owner_team_id"], is_active=row["is_active"], modified_at=row["modified_at"],
                last_conversation_at=last_talk.get((record_type, row["id"])),
            ))
    return candidates


def _prefetched_candidates(batch: _Batch, customer: str, number: SenderNumber) -> list[Candidate]:
    """The same candidates as :func:`gather_candidates`, from what the batch read for all its customers."""
    seller_numbers = _seller_number_ids(number)
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
        Candidate(record_type=record_type, record_id=record_id, owner_user_id=r.owner_user_id,
                  owner_team_id=r.owner_team_id, is_active=r.is_active, modified_at=r.modified_at,
                  last_conversation_at=last_talk.get((record_type, record_id)))
        for (record_type, record_id), r in records.items()
    ]


def create_lead(customer: str, number: SenderNumber) -> Lead:
    """The seed's "unknown number": a new lead named after the number, owned by the number's owner."""
    return Lead.objects.create(
        last_name=phones.display(customer)[:100], mobile_phone=customer, source=Lead.Source.INBOUND_TEXT,
        country=phones.region_of(customer) or "", owner_user_id=number.owner_user_id,
        owner_team_id=number.owner_team_id,
    )


def conversation_for(record: OwnedRecord, customer: str, number: SenderNumber) -> Conversation:
    binding = {"record_key": record.record_key, "customer_e164": customer, "sender_number": number}
    batch = _current()
    if batch is not None and batch.is_fresh(customer):
        for conversation in batch.conversations.get(customer, []):
            if conversation.record_key == record.record_key and conversation.sender_number_id == number.pk:
                conversation.sender_number = number
                setattr(conversation, record.record_type, record)
                return conversation
        conversation = None  # the batch read every conversation of this customer: there is none yet
    else:
        conversation = Conversation.objects.filter(**binding).first()
    if conversation is not None:
        setattr(conversation, record.record_type, record)  # the notifications read its owner
        return conversation
    conversation = Conversation(customer_e164=customer, sender_number=number)
    conversation.set_record(record)
    # One statement, no savepoint: if someone else (e.g. a seller's first send) created it just now, the
    # conflict clause hands back that row's id (its only "update" rewrites the key with itself).
    Conversation.objects.bulk_create(
        [conversation], update_conflicts=True, unique_fields=_BINDING_FIELDS, update_fields=["record_key"])
    if conversation.pk is None:  # a database that does not return ids from this statement
        conversation = Conversation.objects.get(**binding)
    return conversation


_BINDING_FIELDS = ["record_key", "customer_e164", "sender_number"]


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


def _save_routed(messages: list[Message]) -> None:
    """``message.save(update_fields=_ROUTED_FIELDS)`` for many routed messages, in one statement."""
    now = timezone.now()
    rows = []
    for message in messages:
        message.updated_at = now
        rows.append((message.pk, message.conversation_id, message.sender_number_id, message.routing_rule))
    table = connection.ops.quote_name(Message._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    sql = (
        f"WITH v (id, conversation_id, sender_number_id, rule) AS (VALUES {values}) "
        f"UPDATE {table} AS m SET conversation_id = v.conversation_id, sender_number_id = v.sender_number_id, "
        "routing_state = %s, routing_rule = v.rule, updated_at = %s FROM v WHERE m.id = v.id"
    )
    params = [x for row in rows for x in row]
    params += [RoutingState.ROUTED.value, connection.ops.adapt_datetimefield_value(now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _touch_conversations(touches: dict[int, list[Message]]) -> None:
    """What :func:`_touch_conversation` does, for the new messages of many conversations in one statement."""
    rows = []
    for conversation_id, messages in sorted(touches.items()):
        latest = max(messages, key=lambda m: (m.created_at, m.pk))
        rows.append((conversation_id, len(messages), connection.ops.adapt_datetimefield_value(latest.created_at),
                     latest.body[:160]))
    table = connection.ops.quote_name(Conversation._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    latest = "(c.last_message_at IS NULL OR c.last_message_at <= v.at)"
    sql = (
        f"WITH v (id, n, at, preview) AS (VALUES {values}) "
        f"UPDATE {table} AS c SET unread_count = c.unread_count + v.n, "
        f"last_message_at = CASE WHEN {latest} THEN v.at ELSE c.last_message_at END, "
        f"last_message_preview = CASE WHEN {latest} THEN v.preview ELSE c.last_message_preview END, "
        f"last_direction = CASE WHEN {latest} THEN %s ELSE c.last_direction END, "
        f"last_status = CASE WHEN {latest} THEN %s ELSE c.last_status END "
        "FROM v WHERE c.id = v.id"
    )
    params = [x for row in rows for x in row] + [Direction.INBOUND.value, MessageStatus.RECEIVED.value]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _record_consent(message: Message, customer: str, number: SenderNumber) -> None:
    signal = message.provider_status if message.provider_status in CONSENT_SIGNALS else None
    keyword = optout.classify(message.body)
    action = signal or (keyword.action if keyword else None)
    if action is None:
        return
    scope = ALL_NUMBERS if keyword and keyword.all_numbers and action == optout.OPT_OUT else number.e164
    record_consent(customer, scope, action, "provider_signal" if signal else "keyword",
                   detail=keyword.word if keyword else signal, message=message)


# ---------------------------------------------------------------- failures and notifications


def _mark_failed(message: Message, describe) -> None:
    message.routing_state = RoutingState.FAILED
    message.save(update_fields=["routing_state", "updated_at"])
    admins = list(_administrators())
    for admin in admins:
        with translation.override(admin.language or settings.LANGUAGE_CODE):
            Notification.objects.create(
                user=admin, kind=NotificationKind.ROUTING_FAILED, message=message,
                title=_("A text message could not be routed")[:200],
                body=(_("From %(from)s to %(to)s: ") % {"from": message.from_number, "to": message.to_number}
                      + str(describe()))[:1000],
            )
    _push_unread([a.pk for a in admins])


def _administrators():
    from textdesk.org.models import User
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    return User.objects.filter(Q(is_superuser=True) | Q(groups__name=SYSTEM_ADMINISTRATOR), is_active=True).distinct()


def _whom_to_ask(user) -> str:
    batch = _current()
    if batch is not None and user.pk in batch.whom:
        return batch.whom[user.pk]
    from textdesk.org.models import User
    from textdesk.org.roles import SALES_MANAGER, SYSTEM_ADMINISTRATOR

    team_ids = list(user.teams.values_list("id", flat=True))
    people = User.objects.filter(
        Q(groups__name=SYSTEM_ADMINISTRATOR) | Q(groups__name=SALES_MANAGER, teams__in=team_ids), is_active=True
    ).exclude(pk=user.pk).distinct().order_by("username")[:5]
    names = ", ".join(str(p) for p in people)
    if batch is not None:
        batch.whom[user.pk] = names
    return names or _("your system administrator")


def _number_audience(number: SenderNumber | None) -> set[int]:
    """As :func:`textdesk.messaging.notify.number_audience`, with team members read once per batch."""
    if number is None:
        return set()
    if number.owner_user_id:
        return {number.owner_user_id}
    return set(_team_members(number.owner_team_id))


def _conversation_audience(conversation: Conversation, record: OwnedRecord, number: SenderNumber) -> set[int]:
    """As :func:`textdesk.messaging.notify.conversation_audience`, for the record and number at hand."""
    users = _number_audience(number)
    if record.owner_user_id:
        users.add(record.owner_user_id)
    elif record.owner_team_id:
        users |= _team_members(record.owner_team_id)
    return users


def _notify(message: Message, conversation: Conversation, number: SenderNumber) -> None:
    receivers = _active_users(_number_audience(number))
    informed, notified, created = [], [], []
    customer = phones.display(conversation.customer_e164)
    for user in receivers:
        with translation.override(user.language or settings.LANGUAGE_CODE):
            if _may_receive(user):
                created.append(Notification(
                    user=user, kind=NotificationKind.INBOUND_MESSAGE, conversation=conversation, message=message,
                    title=(_("New text message from %(number)s") % {"number": customer})[:200],
                    body=message.body[:1000],
                ))
                informed.append(user.pk)
            else:
                created.append(Notification(
                    user=user, kind=NotificationKind.MISSING_PRIVILEGE,
                    title=_("A text message arrived for you, but you cannot see it")[:200],
                    body=(_("You lack the privilege “%(privilege)s”. Ask %(whom)s to grant it.")
                          % {"privilege": _("Receive inbound text messages"), "whom": _whom_to_ask(user)})[:1000],
                ))
            notified.append(user.pk)
    batch = _current()
    if batch is not None:
        batch.pending_notifications += created  # written with the batch's others (see _Batch.finish)
    else:
        Notification.objects.bulk_create(created)
    watchers = set(informed)
    record = conversation.record
    others = _conversation_audience(conversation, record, number) - {u.pk for u in receivers}
    watchers |= {u.pk for u in _active_users(others) if _may_receive(u)}
    if watchers:
        payload = {"conversation_id": conversation.pk, "message_id": message.pk}
        if batch is not None:
            event = {"event": "message.new", **payload}
            batch.pending_events += [(bus.user_channel(uid), event) for uid in sorted(watchers)]
        else:
            bus.notify_users_on_commit(watchers, "message.new", payload)
    _push_unread(notified)


def _push_unread(user_ids) -> None:
    """Tell each user their unread count after commit (within a batch: once per user, when the batch ends)."""
    batch = _current()
    if batch is not None:
        batch.pending_unread |= set(user_ids)
        return
    _push_unread_now(set(user_ids))


def _push_unread_now(user_ids: set[int]) -> None:
    bus.publish_many_on_commit(_unread_events(user_ids))


def _unread_events(user_ids: set[int]) -> list[tuple[str, dict]]:
    """Each user's unread count as a live event (read now, inside the transaction)."""
    if not user_ids:
        return []
    counts = dict.fromkeys(user_ids, 0)
    counts.update(
        Notification.objects.filter(user_id__in=user_ids, read_at__isnull=True).order_by()
        .values_list("user_id").annotate(n=Count("id"))
    )
    return [(bus.user_channel(user_id), {"event": "notification.new", "unread": unread})
            for user_id, unread in sorted(counts.items())]
