"""What a routing pass reads, as plain data: the claimed messages, our numbers, the candidates of the customers,
and the people who hear about the result.

A pass reads these once per round (a fixed number of queries however many messages it routes) and hands them
to the ranker and the writer as arguments: nothing is looked up on the side while a message is decided.

- :class:`Snapshot`: what the rules (:func:`textdesk.domain.routing.choose_record`) need for the customers of
  one round: each customer's candidate records and conversations, each receiving number's fellow numbers (rule
  1's "seller") and its team's members (rule 3).
- :class:`People`: who may hear about the round's messages (owners of the numbers and of the chosen records,
  members of their teams), each with their language and the receive privilege.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from textdesk.crm.models import RECORD_MODELS
from textdesk.crm.record_types import LINK_FIELDS, PHONE_RECORD_TYPES
from textdesk.domain import audience, phones
from textdesk.domain.routing import Candidate, Talk, customer_of
from textdesk.domain.visibility import Ownership
from textdesk.messaging.models import Conversation, Message, SenderNumber
from textdesk.messaging.notify import team_members

RECEIVE_PERMISSION = "org.receive_inbound_messages"


@dataclass(frozen=True)
class Claimed:
    """A claimed inbound message, as the claim read it."""

    id: int
    from_number: str
    to_number: str
    body: str
    provider_status: str
    created_at: dt.datetime

    @classmethod
    def of(cls, message: Message) -> Claimed:
        return cls(
            message.pk,
            message.from_number,
            message.to_number,
            message.body,
            message.provider_status,
            message.created_at,
        )


@dataclass(frozen=True)
class Number:
    """One of our sender numbers and who owns it."""

    id: int
    e164: str
    owner_user_id: int | None
    owner_team_id: int | None

    @property
    def ownership(self) -> Ownership:
        return Ownership(self.owner_user_id, self.owner_team_id)


@dataclass(frozen=True)
class Routable:
    """A claimed message sent to one of our numbers by a customer we can name: ready to be decided."""

    message: Claimed
    number: Number
    customer: str


@dataclass(frozen=True)
class Snapshot:
    """What the rules need to decide the messages of one round (customers are E.164 numbers or sender names)."""

    records: Mapping[str, tuple[Candidate, ...]]  # customer → records matched by phone or by a conversation
    talks: Mapping[str, tuple[Talk, ...]]  # customer → their conversations with a record
    seller_numbers: Mapping[int, frozenset[int]]  # receiving number → it and every other number of its owner
    team_members: Mapping[int, frozenset[int]]  # owning team of a receiving number → its members


@dataclass(frozen=True)
class Person:
    id: int
    language: str
    may_receive: bool
    whom_to_ask: str = ""  # for one who may not receive: who can grant the privilege


@dataclass(frozen=True)
class People:
    """Who may hear about the round's messages: active users by id, and the members of the teams involved."""

    users: Mapping[int, Person]
    team_members: Mapping[int, frozenset[int]]


# ---------------------------------------------------------------- messages and numbers


def dialled_number(message: Claimed) -> str:
    """The number the customer wrote to (one of ours, if it is known), as E.164 where it parses."""
    return phones.normalise(message.to_number).e164 or message.to_number.strip()


def customer(message: Claimed, number: Number) -> str | None:
    """Who wrote: an E.164 number (read in the region of our number), a sender name, or None (see
    :func:`textdesk.domain.routing.customer_of`)."""
    return customer_of(message.from_number, phones.normalise(message.from_number, phones.region_of(number.e164)).e164)


def read_numbers(e164s: Iterable[str]) -> dict[str, Number]:
    """Our sender numbers among these (one query)."""
    rows = SenderNumber.objects.filter(e164__in=set(e164s)).values_list("id", "e164", "owner_user_id", "owner_team_id")
    return {row[1]: Number(*row) for row in rows}


def lock_customers(customers: list[str]) -> None:
    """Two messages from one new customer, routed at once, must not create two leads.

    The locks of a pass are taken in one statement, in a fixed order, so two workers never wait on each other in
    a cycle. They are held until the transaction ends."""
    if connection.vendor != "postgresql" or not customers:
        return  # SQLite: one writer at a time already
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM ("
            " SELECT DISTINCT hashtextextended('route:' || c, 0) AS k FROM unnest(%s::text[]) AS c ORDER BY k"
            ") AS locks",
            [customers],
        )


# ---------------------------------------------------------------- the rules' inputs


def read_snapshot(chosen: list[Routable]) -> Snapshot:
    """Candidates and conversations of the round's customers, and its numbers' fellow numbers and team members
    (one query per table)."""
    customers = sorted({r.customer for r in chosen})
    talks: dict[str, list[Talk]] = defaultdict(list)
    talking: dict[tuple[str, int], set[str]] = defaultdict(set)  # record → customers it has a conversation with
    rows = Conversation.objects.filter(customer_e164__in=customers).values_list(
        "customer_e164", "record_type", "sender_number_id", "last_message_at", *(f"{f}_id" for f in LINK_FIELDS)
    )
    position = {key: i for i, key in enumerate(LINK_FIELDS)}
    for customer, record_type, sender_number_id, last_message_at, *record_ids in rows:
        record_id = record_ids[position[record_type]]
        if record_id is not None:
            talks[customer].append(Talk(record_type, record_id, sender_number_id, last_message_at))
            talking[(record_type, record_id)].add(customer)
    wanted = set(customers)
    records: dict[str, dict[tuple[str, int], Candidate]] = defaultdict(dict)
    for record_type, model in RECORD_MODELS.items():
        ids = [record_id for kind, record_id in talking if kind == record_type]
        match = Q(pk__in=ids) if ids else None
        fields = ["id", "owner_user_id", "owner_team_id", "is_active", "modified_at"]
        if record_type in PHONE_RECORD_TYPES:
            # Each phone column has its own index; the OR becomes two index lookups.
            by_phone = Q(business_phone_e164__in=customers) | Q(mobile_phone_e164__in=customers)
            match = by_phone if match is None else match | by_phone
            fields += ["business_phone_e164", "mobile_phone_e164"]
        if match is None:
            continue
        for row in model.objects.filter(match).order_by().values_list(*fields):
            found = Candidate(record_type, *row[:5])
            for who in (set(row[5:]) & wanted) | talking.get(found.key, set()):
                records[who][found.key] = found
    return Snapshot(
        records={c: tuple(records[c].values()) for c in customers},
        talks={c: tuple(talks[c]) for c in customers},
        seller_numbers=_seller_numbers({r.number for r in chosen}),
        team_members=team_members(
            {
                r.number.owner_team_id
                for r in chosen
                if not r.number.owner_user_id and r.number.owner_team_id is not None
            }
        ),
    )


def _seller_numbers(numbers: set[Number]) -> dict[int, frozenset[int]]:
    """For each number: it and every other number of the same owner (one query)."""
    user_ids = {n.owner_user_id for n in numbers if n.owner_user_id}
    team_ids = {n.owner_team_id for n in numbers if not n.owner_user_id and n.owner_team_id}
    by_user: dict[int | None, set[int]] = defaultdict(set)
    by_team: dict[int | None, set[int]] = defaultdict(set)
    if user_ids or team_ids:
        rows = SenderNumber.objects.filter(Q(owner_user_id__in=user_ids) | Q(owner_team_id__in=team_ids))
        for pk, user_id, team_id in rows.values_list("id", "owner_user_id", "owner_team_id"):
            by_user[user_id].add(pk)
            by_team[team_id].add(pk)
    return {
        n.id: frozenset(by_user[n.owner_user_id] if n.owner_user_id else by_team[n.owner_team_id]) | {n.id}
        for n in numbers
    }


# ---------------------------------------------------------------- who hears about it


def read_people(numbers: Iterable[Ownership], records: Iterable[Ownership]) -> People:
    """The owners of these numbers and records and the members of their teams, with their language and receive
    privilege (three queries); for those of the numbers' audience who may not receive, whom to ask for it."""
    numbers, records = list(numbers), list(records)
    members = team_members(audience.teams_of(*numbers, *records))
    told = set().union(*(audience.owners(n, members) for n in numbers)) if numbers else set()
    everyone = told.union(*(audience.owners(r, members) for r in records)) if records else told
    users = {}
    for user_id, language, may_receive in _active_users(everyone):
        users[user_id] = Person(user_id, language, may_receive)
    for user_id, person in list(users.items()):
        if user_id in told and not person.may_receive:
            users[user_id] = Person(user_id, person.language, False, _whom_to_ask(user_id))
    return People(users=users, team_members=members)


def _active_users(ids: set[int]) -> list[tuple[int, str, bool]]:
    """(id, language, may receive) of the active users among these (one query)."""
    if not ids:
        return []
    sql = _active_users_with_privilege().replace("{ids}", ", ".join(["%s"] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [*RECEIVE_PERMISSION.split(".")[::-1] * 2, *sorted(ids)])
        return [(user_id, language, bool(may)) for user_id, language, may in cursor.fetchall()]


@functools.cache
def _active_users_with_privilege() -> str:
    """Active users by id, each with whether they may receive: what ``user.has_perm(RECEIVE_PERMISSION)`` answers
    with Django's model backend (superusers, and users holding the permission directly or by group), in one
    query. Parameters: codename, app label (twice), then the ids, whose placeholders replace ``{ids}``."""
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
        f"SELECT u.id, u.language, (u.is_superuser"
        f" OR EXISTS (SELECT 1 FROM {direct} d WHERE d.user_id = u.id AND EXISTS ({holds.format(link='d')}))"
        f" OR EXISTS (SELECT 1 FROM {groups} g JOIN {group_permissions} gp ON gp.group_id = g.group_id"
        f"   WHERE g.user_id = u.id AND EXISTS ({holds.format(link='gp')}))"
        f") AS may_receive FROM {user} u WHERE u.is_active AND u.id IN ({{ids}}) ORDER BY u.id"
    )


def _whom_to_ask(user_id: int) -> str:
    """Who can grant the receive privilege to this user: the administrators and their teams' sales managers (their
    names; empty when there is nobody, which the notice words in the user's language)."""
    from textdesk.org.models import User
    from textdesk.org.roles import SALES_MANAGER, SYSTEM_ADMINISTRATOR

    team_ids = list(User.teams.through.objects.filter(user_id=user_id).values_list("team_id", flat=True))
    people = (
        User.objects.filter(
            Q(groups__name=SYSTEM_ADMINISTRATOR) | Q(groups__name=SALES_MANAGER, teams__in=team_ids), is_active=True
        )
        .exclude(pk=user_id)
        .distinct()
        .order_by("username")[:5]
    )
    return ", ".join(str(p) for p in people)
