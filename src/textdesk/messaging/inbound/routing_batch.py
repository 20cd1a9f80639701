"""What the messages of one routing batch share: reads done once for all of them, writes done together.

A :class:`Batch` lives inside the transaction that routes its messages (see
:func:`textdesk.messaging.inbound.router.route_batch`) and is reached through :func:`current`. The lookups
below (:func:`sender_number`, :func:`team_members`, :func:`active_users`, …) answer from it when it holds the
answer and read the database otherwise, also when no batch is running.

A batch routed the common way (``deferred``) also holds back its own writes: the new leads, the new
conversations, the routed messages and their conversations' summaries are written a statement each (see
:meth:`Batch.flush_writes`), when the batch ends, and earlier when a customer's next message needs them.

A customer's prefetched candidates serve only that customer's first message of the batch; later ones read
afresh, after the batch wrote what it deferred (:meth:`Batch.before`), so they see what the earlier one changed.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from textdesk.crm.models import RECORD_MODELS, Lead, OwnedRecord, RecordType
from textdesk.domain import phones
from textdesk.messaging.models import (
    Conversation,
    Direction,
    Message,
    MessageStatus,
    Notification,
    RoutingState,
    SenderNumber,
)

RECEIVE_PERMISSION = "org.receive_inbound_messages"
PHONE_RECORD_TYPES = (RecordType.ACCOUNT, RecordType.CONTACT, RecordType.LEAD)

_local = threading.local()


def current() -> Batch | None:
    """The batch being routed in this thread, if any."""
    return getattr(_local, "batch", None)


def start(batch: Batch) -> None:
    """Route this thread's messages with ``batch`` until :func:`stop`."""
    _local.batch = batch


def stop() -> None:
    _local.batch = None


@dataclass
class Batch:
    """Reads shared by the messages of one batch, and the writes they defer (valid inside its transaction only)."""

    numbers: dict[str, SenderNumber | None] = field(default_factory=dict)
    team_members: dict[int, frozenset[int]] = field(default_factory=dict)
    seller_numbers: dict[tuple[int | None, int | None], set[int]] = field(default_factory=dict)
    users: dict[int, object] = field(default_factory=dict)  # active users by id
    may_receive: set[int] = field(default_factory=set)  # those of ``users`` holding RECEIVE_PERMISSION
    whom: dict[int, str] = field(default_factory=dict)
    told: dict[int, tuple[str, str, str | None]] = field(default_factory=dict)  # see inbound_notify._what_to_tell
    # Per customer, for that customer's first message of the batch only:
    conversations: dict[str, list[Conversation]] = field(default_factory=dict)
    records: dict[tuple[str, int], OwnedRecord] = field(default_factory=dict)
    phone_records: dict[str, list[OwnedRecord]] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)
    customers: dict[int, str] = field(default_factory=dict)  # message id → customer
    # What the messages routed so far tell whom, written when the batch ends (``inbound_notify.deliver``):
    # notifications, users whose unread count changed, and ``message.new`` pushes as (user ids, message,
    # conversation), built then (a conversation of the batch may have no id before), published together after
    # commit (one Redis round trip per batch). "pending" is the current message's, kept or dropped with it.
    pending_notifications: list[Notification] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    unread_users: set[int] = field(default_factory=set)
    pending_unread: set[int] = field(default_factory=set)
    pending_pushes: list[tuple[list[int], Message, Conversation]] = field(default_factory=list)
    pushes: list[tuple[list[int], Message, Conversation]] = field(default_factory=list)
    # With ``deferred``, new leads, new conversations, the routed messages and their conversations' summaries
    # are written together, a statement each (see flush_writes).
    deferred: bool = False
    leads: list[Lead] = field(default_factory=list)
    new_conversations: list[Conversation] = field(default_factory=list)
    routed: list[Message] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # customers whose message was routed already

    @classmethod
    def prepare(cls, messages: list[Message], deferred: bool = False) -> Batch:
        """Lock the messages' customers and read what routing them will need (a fixed number of queries)."""
        batch = cls(deferred=deferred)
        wanted = {dialled_number(m) for m in messages}
        batch.numbers = dict.fromkeys(wanted)
        for number in SenderNumber.objects.select_related("owner_team").filter(e164__in=wanted):
            batch.numbers[number.e164] = number
        for m in messages:
            number = batch.numbers[dialled_number(m)]
            if number is not None:
                batch.customers[m.pk] = customer_number(m, number)
        customers = sorted(set(batch.customers.values()))
        if customers:
            lock_customers(customers)
            batch._prefetch(customers)
        batch._prefetch_seller_numbers()
        batch._prefetch_people()
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

    def _prefetch_seller_numbers(self) -> None:
        """Every number of each owner of the batch's numbers (rule 1's "seller"), in one query."""
        owners = {_seller(n) for n in self.numbers.values() if n is not None}
        user_ids = {user_id for user_id, team_id in owners if user_id}
        team_ids = {team_id for user_id, team_id in owners if team_id}
        if not user_ids and not team_ids:
            return
        rows = SenderNumber.objects.filter(Q(owner_user_id__in=user_ids) | Q(owner_team_id__in=team_ids))
        found: dict[tuple[int | None, int | None], set[int]] = defaultdict(set)
        for pk, user_id, team_id in rows.values_list("id", "owner_user_id", "owner_team_id"):
            if user_id in user_ids:
                found[(user_id, None)].add(pk)
            if team_id in team_ids:
                found[(None, team_id)].add(pk)
        for owner in owners:
            if any(owner):
                self.seller_numbers[owner] = found[owner]

    def _prefetch_people(self) -> None:
        """Everyone the batch's rules and notifications are likely to need, with their receive privilege: the
        owners of its numbers and of the prefetched records, and the members of the teams owning any of them
        (three queries). Anyone else (the owner of a record read later) is read when needed."""
        self.read_people([n for n in self.numbers.values() if n is not None] + list(self.records.values()))

    def read_people(self, owned) -> None:
        """The owners of these (records, numbers: anything with ``owner_user_id`` and ``owner_team_id``) and the
        members of their teams, with their receive privilege; what the batch knows already is not read again."""
        from textdesk.org.models import Team

        team_ids = {o.owner_team_id for o in owned if o.owner_team_id} - self.team_members.keys()
        people = {o.owner_user_id for o in owned if o.owner_user_id}
        if team_ids:
            members: dict[int, set[int]] = defaultdict(set)
            with connection.cursor() as cursor:  # plain SQL: this runs once per routing pass
                cursor.execute(
                    f"SELECT team_id, user_id FROM {Team.members.through._meta.db_table} "
                    f"WHERE team_id IN ({', '.join(['%s'] * len(team_ids))})",
                    sorted(team_ids),
                )
                rows = cursor.fetchall()
            for team_id, user_id in rows:
                members[team_id].add(user_id)
            for team_id in team_ids:
                self.team_members[team_id] = frozenset(members[team_id])
        for team_id in {o.owner_team_id for o in owned if o.owner_team_id}:
            people |= self.team_members[team_id]
        self.read_users(people - self.users.keys())

    def read_users(self, ids: set[int]) -> None:
        """Read these users (None for one that is inactive or gone) and which of them may receive (two queries)."""
        if not ids:
            return
        from textdesk.org.models import User

        self.users.update(dict.fromkeys(ids))
        sql = _active_users_with_privilege().replace("{ids}", ", ".join(["%s"] * len(ids)))
        for user in User.objects.raw(sql, [*RECEIVE_PERMISSION.split(".")[::-1] * 2, *sorted(ids)]):
            self.users[user.pk] = user
            if user.may_receive:
                self.may_receive.add(user.pk)

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

    def defer_lead(self, lead: Lead) -> None:
        """A new lead, inserted when the batch writes (its id is unknown until then)."""
        self.leads.append(lead)  # derived fields set by inbound.new_lead, as save() would

    def defer_conversation(self, conversation: Conversation) -> None:
        """A new conversation, inserted when the batch writes (after the leads: its key needs its record's id)."""
        self.new_conversations.append(conversation)

    def defer_routed(self, message: Message) -> None:
        """A routed message: its update, and its conversation's summary, are written when the batch writes."""
        self.routed.append(message)

    def flush_writes(self) -> None:
        """Write what is deferred, in the order of its references: leads, conversations, messages, summaries."""
        if self.leads:
            insert_leads(self.leads)
            self.leads = []
        if self.new_conversations:
            insert_conversations(self.new_conversations)
            self.new_conversations = []
        if self.routed:
            touches: dict[int, list[Message]] = defaultdict(list)
            for message in self.routed:
                message.conversation = message.conversation  # sets conversation_id: the conversation has one now
                touches[message.conversation_id].append(message)
            save_routed(self.routed)
            touch_conversations(touches)
            self.routed = []

    def keep_notifications(self) -> None:
        self.notifications += self.pending_notifications
        self.unread_users |= self.pending_unread
        self.pushes += self.pending_pushes
        self.pending_notifications, self.pending_unread, self.pending_pushes = [], set(), []

    def drop_notifications(self) -> None:
        self.pending_notifications, self.pending_unread, self.pending_pushes = [], set(), []


def dialled_number(message: Message) -> str:
    """The number the customer wrote to (one of ours, if it is known), as E.164 where it parses."""
    return phones.normalise(message.to_number).e164 or message.to_number.strip()


def customer_number(message: Message, our_number: SenderNumber) -> str:
    region = phones.region_of(our_number.e164)
    return phones.normalise(message.from_number, region).e164 or message.from_number.strip()[:16]


def lock_customers(customers: list[str]) -> None:
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
            ") AS locks",
            [customers],
        )


# ---------------------------------------------------------------- lookups: from the batch, else the database


def sender_number(e164: str) -> SenderNumber | None:
    batch = current()
    if batch is not None and e164 in batch.numbers:
        return batch.numbers[e164]
    return SenderNumber.objects.select_related("owner_team").filter(e164=e164).first()


def team_members(team_id: int) -> frozenset[int]:
    batch = current()
    if batch is not None and team_id in batch.team_members:
        return batch.team_members[team_id]
    from textdesk.org.models import Team

    members = frozenset(Team.members.through.objects.filter(team_id=team_id).values_list("user_id", flat=True))
    if batch is not None:
        batch.team_members[team_id] = members
    return members


def active_users(ids) -> list:
    """Active users by id, in id order; within a batch each is read once (with its privilege cache)."""
    from textdesk.org.models import User

    ids = set(ids)
    batch = current()
    if batch is None:
        return list(User.objects.filter(pk__in=ids, is_active=True).order_by("pk"))
    batch.read_users(ids - batch.users.keys())
    return [batch.users[i] for i in sorted(ids) if batch.users[i] is not None]


@functools.cache
def _active_users_with_privilege() -> str:
    """Active users by id, each with ``may_receive``: what ``user.has_perm(RECEIVE_PERMISSION)`` answers with
    Django's model backend (superusers, and users holding the permission directly or by group). Plain SQL run
    through ``User.objects.raw``: one query, and no query compilation on every routing pass. Parameters: codename,
    app label (twice), then the ids, whose placeholders the caller puts in place of ``{ids}``."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from textdesk.org.models import User

    user = User._meta.db_table
    permission, content_type = Permission._meta.db_table, ContentType._meta.db_table
    direct = User.user_permissions.through._meta.db_table
    groups, group_permissions = User.groups.through._meta.db_table, Group.permissions.through._meta.db_table
    holds = (
        f"SELECT 1 FROM {permission} p JOIN {content_type} ct ON ct.id = p.content_type_id "
        "WHERE p.id = {link}.permission_id AND p.codename = %s AND ct.app_label = %s"
    )
    return (
        f"SELECT u.*, (u.is_superuser"
        f" OR EXISTS (SELECT 1 FROM {direct} d WHERE d.user_id = u.id AND EXISTS ({holds.format(link='d')}))"
        f" OR EXISTS (SELECT 1 FROM {groups} g JOIN {group_permissions} gp ON gp.group_id = g.group_id"
        f"   WHERE g.user_id = u.id AND EXISTS ({holds.format(link='gp')}))"
        f") AS may_receive FROM {user} u WHERE u.is_active AND u.id IN ({{ids}})"
    )


def may_receive(user) -> bool:
    batch = current()
    if batch is not None and user.pk in batch.users:
        return user.pk in batch.may_receive
    return user.has_perm(RECEIVE_PERMISSION)


def record(record_type: str, record_id: int) -> OwnedRecord:
    batch = current()
    if batch is not None and (record_type, record_id) in batch.records:
        return batch.records[(record_type, record_id)]
    return RECORD_MODELS[record_type].objects.get(pk=record_id)


def seller_number_ids(number: SenderNumber) -> set[int]:
    """The receiving number and every other number of the same owner (the "seller" of rule 1)."""
    batch = current()
    owner = _seller(number)
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


def _seller(number: SenderNumber) -> tuple[int | None, int | None]:
    """Who owns the number, as the key of ``Batch.seller_numbers``: (user, None) or (None, team)."""
    return number.owner_user_id, None if number.owner_user_id else number.owner_team_id


# ---------------------------------------------------------------- set-based writes

BINDING_FIELDS = ["record_key", "customer_e164", "sender_number"]


def insert_leads(leads: list[Lead]) -> None:
    """Insert new leads (their derived fields set already) in one statement, which gives back their ids."""
    if connection.features.can_return_rows_from_bulk_insert:
        Lead.objects.bulk_create(leads)
    else:  # the conversations need the ids
        for lead in leads:
            lead.save(force_insert=True)


def insert_conversations(conversations: list[Conversation]) -> None:
    """Insert new conversations in one statement, without a savepoint: ``INSERT … ON CONFLICT (binding) DO UPDATE
    … RETURNING id``. If one with the same binding was created meanwhile (e.g. by a seller's first send), the
    conflict clause hands back that row's id (its only "update" rewrites the key with itself), so it is reused."""
    for conversation in conversations:
        conversation.set_record(conversation.record)  # its key and foreign key: the record may have its id only now
    Conversation.objects.bulk_create(
        conversations, update_conflicts=True, unique_fields=BINDING_FIELDS, update_fields=["record_key"]
    )
    for conversation in conversations:
        if conversation.pk is None:  # a database that does not return ids from this statement
            conversation.pk = Conversation.objects.values_list("pk", flat=True).get(
                record_key=conversation.record_key,
                customer_e164=conversation.customer_e164,
                sender_number=conversation.sender_number_id,
            )


def save_routed(messages: list[Message]) -> None:
    """What ``message.save(update_fields=[the routing fields])`` does, for many routed messages in one statement."""
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


def touch_conversations(touches: dict[int, list[Message]]) -> None:
    """What ``inbound._touch_conversation`` does, for the new messages of many conversations in one statement."""
    rows = []
    for conversation_id, messages in sorted(touches.items()):
        latest = max(messages, key=lambda m: (m.created_at, m.pk))
        rows.append(
            (
                conversation_id,
                len(messages),
                connection.ops.adapt_datetimefield_value(latest.created_at),
                latest.body[:160],
            )
        )
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
