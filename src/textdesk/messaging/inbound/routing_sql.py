"""Routing the common messages of a batch on PostgreSQL: a few set-based statements for the whole batch.

Routing message by message costs the worker ~1 ms of machine time per message (model instances, one ORM query
per lookup), more than acknowledging the webhook did. On PostgreSQL the messages of a batch that need nothing
special are routed together instead:

1. one statement finds every candidate of every message (phone fields, existing conversations) and ranks them
   by the seed's rules (:data:`CHOOSE`), naming the rule that separated the winner from the runner-up;
2. the new leads of the batch are inserted together;
3. one statement creates or touches the conversations and marks the messages routed (:data:`ATTACH`);
4. one statement inserts the notifications; the unread counts are read in one more; the pushes leave after commit.

The ranking in :data:`CHOOSE` is :func:`textdesk.domain.routing.choose_record` written as an ``ORDER BY``; both
are held to the same answers by a property test (tests/inbound/test_routing_sql.py) that feeds the same random
candidates to each.

A customer's several messages of one batch are routed in rounds, one per round, so each sees what the previous
one created. A message takes the per-message path (:mod:`.inbound`) instead when it is a consent keyword or
carries a provider consent signal, when it was sent to a number that is not ours, or when its sender is empty;
so do its customer's later messages of the batch. Customers do not share rows, so routing these after the
others changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg
from django.db import connection
from django.utils import timezone

from textdesk.domain import optout, routing
from textdesk.live import bus
from textdesk.messaging import unread
from textdesk.messaging.inbound import notices
from textdesk.messaging.inbound.leads import new_lead
from textdesk.messaging.inbound.routing_batch import (
    Batch,
    customer_number,
    dialled_number,
    insert_leads,
    lock_customers,
)
from textdesk.messaging.models import Direction, MessageStatus, RoutingState, SenderNumber

CONSENT_SIGNALS = (optout.OPT_OUT, optout.OPT_IN, optout.HELP)


@dataclass
class Pending:
    """A claimed inbound message, as the claim read it."""

    id: int
    from_number: str
    to_number: str
    body: str
    provider_status: str
    created_at: dt.datetime


@dataclass
class Owner:
    """Who owns the record a message was routed to (what the notifications need of it)."""

    owner_user_id: int | None
    owner_team_id: int | None


@dataclass
class Decided:
    """A message, where it goes, and why."""

    message: Pending
    number: SenderNumber
    customer: str
    record_type: str
    record_id: int
    owner: Owner
    rule: str


CLAIM = f"""
SELECT id, from_number, to_number, body, provider_status, created_at FROM messaging_message
WHERE routing_state = '{RoutingState.PENDING.value}' AND direction = '{Direction.INBOUND.value}'
ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""

_PHONE_MATCH = " UNION ".join(
    f"SELECT '{record_type}' AS record_type, id AS record_id FROM crm_{record_type} WHERE {column} = n.customer"
    for record_type in ("contact", "account", "lead")
    for column in ("mobile_phone_e164", "business_phone_e164")
)
_RECORD = " UNION ALL ".join(
    f"SELECT owner_user_id, owner_team_id, is_active, modified_at FROM crm_{record_type} "
    f"WHERE k.record_type = '{record_type}' AND id = k.record_id"
    for record_type in routing.ENTITY_ORDER
)
_TYPE_RANK = " ".join(f"WHEN '{record_type}' THEN {rank}" for record_type, rank in routing.ENTITY_ORDER.items())

# Parameters: message ids, customers (E.164), receiving number ids, three arrays of the same length.
# Returns, for each message with at least one candidate: the winner, its owners, and the deciding rule.
CHOOSE = f"""
WITH n AS (
    SELECT m.message_id, m.customer, s.id AS number_id, s.owner_user_id AS number_user, s.owner_team_id AS number_team
    FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS m (message_id, customer, number_id)
    JOIN messaging_sendernumber s ON s.id = m.number_id
), talks AS (
    -- records already talking with the customer (through any number); talk_at: their latest message through
    -- the seller's numbers (the receiving number, or any number of its owner)
    -- (LATERAL, here and for the phone fields below: each customer's rows are read through the index, whatever
    -- the planner guesses of the batch's size; joined as sets, a large batch made it scan whole tables)
    SELECT n.message_id, c.record_type, COALESCE(c.contact_id, c.account_id, c.opportunity_id, c.lead_id) AS record_id,
           max(c.last_message_at) FILTER (WHERE s.id = n.number_id OR s.owner_user_id = n.number_user
                                          OR (n.number_user IS NULL AND s.owner_team_id = n.number_team)) AS talk_at
    FROM n CROSS JOIN LATERAL (
        SELECT * FROM messaging_conversation c WHERE c.customer_e164 = n.customer OFFSET 0
    ) AS c
    JOIN messaging_sendernumber s ON s.id = c.sender_number_id
    GROUP BY 1, 2, 3
), keys AS (
    SELECT message_id, record_type, record_id, max(talk_at) AS talk_at FROM (
        SELECT message_id, record_type, record_id, talk_at FROM talks WHERE record_id IS NOT NULL
        UNION ALL SELECT n.message_id, phone.record_type, phone.record_id, NULL
        FROM n CROSS JOIN LATERAL ({_PHONE_MATCH}) AS phone
    ) AS found GROUP BY 1, 2, 3
), scored AS (
    SELECT k.message_id, k.record_type, k.record_id, k.talk_at, r.owner_user_id, r.owner_team_id, r.is_active,
           r.modified_at,
           COALESCE(n.number_user IS NOT NULL AND r.owner_user_id = n.number_user, false) AS by_owner,
           COALESCE(n.number_team IS NOT NULL AND EXISTS (
               SELECT 1 FROM org_team_members t WHERE t.team_id = n.number_team AND t.user_id = r.owner_user_id
           ), false) AS by_member,
           CASE k.record_type {_TYPE_RANK} END AS type_rank
    FROM keys k JOIN n USING (message_id) CROSS JOIN LATERAL ({_RECORD}) AS r
), ranked AS (
    SELECT s.*, count(*) OVER (PARTITION BY message_id) AS candidates, row_number() OVER w AS place,
           lead(talk_at) OVER w AS next_talk_at, lead(by_owner) OVER w AS next_by_owner,
           lead(by_member) OVER w AS next_by_member, lead(type_rank) OVER w AS next_type_rank,
           lead(is_active) OVER w AS next_is_active, lead(modified_at) OVER w AS next_modified_at
    FROM scored s
    WINDOW w AS (PARTITION BY message_id ORDER BY talk_at DESC NULLS LAST, by_owner DESC, by_member DESC,
                 type_rank, is_active DESC, modified_at DESC, record_id)
)
SELECT message_id, record_type, record_id, owner_user_id, owner_team_id,
       CASE WHEN candidates = 1 THEN '{routing.ONLY_CANDIDATE}'
            WHEN talk_at IS DISTINCT FROM next_talk_at THEN '{routing.MOST_RECENT_CONVERSATION}'
            WHEN by_owner <> next_by_owner THEN '{routing.OWNED_BY_NUMBER_OWNER}'
            WHEN by_member <> next_by_member THEN '{routing.OWNED_BY_TEAM_MEMBER}'
            WHEN type_rank <> next_type_rank THEN '{routing.ENTITY_TYPE}'
            WHEN is_active <> next_is_active THEN '{routing.ACTIVE}'
            WHEN modified_at <> next_modified_at THEN '{routing.MOST_RECENTLY_UPDATED}'
            ELSE '{routing.LOWEST_ID}' END
FROM ranked WHERE place = 1
"""

_LATEST = "(c.last_message_at IS NULL OR c.last_message_at <= EXCLUDED.last_message_at)"
_RECORD_COLUMNS = ", ".join(f"{record_type}_id" for record_type in routing.ENTITY_ORDER)
_RECORD_VALUES = ", ".join(
    f"CASE WHEN v.record_type = '{record_type}' THEN v.record_id END" for record_type in routing.ENTITY_ORDER
)

# Parameters: message ids, record types, record ids, customers, number ids, message times, previews, rules (arrays
# of the same length, one customer once), then the time of the write twice. Creates each message's conversation or
# adds the message to it (one more unread; the summary moves only if this message is the latest), then marks the
# message routed. Returns (message id, conversation id).
ATTACH = f"""
WITH v AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bigint[], %s::timestamptz[],
                         %s::text[], %s::text[])
        AS v (message_id, record_type, record_id, customer, number_id, at, preview, rule)
), c AS (
    INSERT INTO messaging_conversation AS c (
        record_type, {_RECORD_COLUMNS}, record_key, customer_e164, sender_number_id, created_at, last_message_at,
        last_message_preview, last_direction, last_status, unread_count)
    SELECT v.record_type, {_RECORD_VALUES}, v.record_type || ':' || v.record_id, v.customer, v.number_id, %s, v.at,
           v.preview, '{Direction.INBOUND.value}', '{MessageStatus.RECEIVED.value}', 1
    FROM v
    ON CONFLICT (record_key, customer_e164, sender_number_id) DO UPDATE SET
        unread_count = c.unread_count + 1,
        last_message_at = CASE WHEN {_LATEST} THEN EXCLUDED.last_message_at ELSE c.last_message_at END,
        last_message_preview = CASE WHEN {_LATEST} THEN EXCLUDED.last_message_preview ELSE c.last_message_preview END,
        last_direction = CASE WHEN {_LATEST} THEN EXCLUDED.last_direction ELSE c.last_direction END,
        last_status = CASE WHEN {_LATEST} THEN EXCLUDED.last_status ELSE c.last_status END
    RETURNING c.id, c.record_key, c.customer_e164, c.sender_number_id
)
UPDATE messaging_message AS m SET conversation_id = c.id, sender_number_id = v.number_id,
    routing_state = '{RoutingState.ROUTED.value}', routing_rule = v.rule, updated_at = %s
FROM v JOIN c ON c.record_key = v.record_type || ':' || v.record_id AND c.customer_e164 = v.customer
                 AND c.sender_number_id = v.number_id
WHERE m.id = v.message_id
RETURNING m.id, c.id
"""

NOTIFY = """
INSERT INTO messaging_notification (user_id, kind, title, body, conversation_id, message_id, created_at)
SELECT x.user_id, x.kind, x.title, x.body, x.conversation_id, x.message_id, %s
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[])
    AS x (user_id, kind, title, body, conversation_id, message_id)
"""


def available() -> bool:
    return connection.vendor == "postgresql"


def _run(sql: str, params: list) -> list[tuple]:
    """Run one of this module's statements, prepared: they are planned once per connection, not per batch (the
    plan of :data:`CHOOSE` costs more than running it). Errors come out as Django's, like any query's."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's prepared statements off (None), which also ignores ``prepare=True``. A threshold
        # nobody reaches keeps every other statement unprepared and lets these be prepared when asked.
        raw.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if cursor.description else []


def claim(size: int) -> list[Pending]:
    """Lock the oldest pending inbound messages (skipping those another worker holds).

    Routed messages leave dead entries in the pending index until vacuum, thousands of them at a high rate. A plain
    index scan marks those it meets as dead, so the next claim skips them; a bitmap scan (which the planner
    prefers, as it expects few pending rows) visits their table pages on every claim. Hence no bitmap scans in
    this transaction.

    The routing transaction does not wait for its commit to reach the disk (``synchronous_commit = off``): what
    it writes is derived from messages already stored durably by their webhooks. Should PostgreSQL itself crash
    in the next fraction of a second, the transaction is lost as a whole, its messages are pending again and
    are routed again; nothing is lost and nothing is doubled. (A process that dies loses nothing either way.)

    The routing statements that follow run with their generic plans: planning :data:`CHOOSE` for each batch cost
    more than running it, and its plan does not depend on the batch (every lookup is by index, per customer)."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        # One round trip: no parameters, so these go as one simple query (the size is an int of ours).
        cursor.execute(
            f"SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL synchronous_commit = off; "
            f"SET LOCAL enable_bitmapscan = off; {CLAIM % int(size)}; SET LOCAL enable_bitmapscan = on"
        )
        while cursor.description is None or cursor.pgresult.status != psycopg.pq.ExecStatus.TUPLES_OK:
            cursor.nextset()
        return [Pending(*row) for row in cursor.fetchall()]


def route(claimed: list[Pending]) -> list[int]:
    """Route the claimed messages that need nothing special; return the ids of the others, in order.

    A customer's messages are routed in rounds, one per round (its first in the first round, its second in the
    second, …), so that each sees what the one before created. A customer's first special message (a consent
    keyword, say) and everything after it take the per-message path. Runs inside the caller's transaction;
    pushes leave after its commit."""
    batch = Batch(deferred=False)
    wanted = {dialled_number(m) for m in claimed}
    batch.numbers = dict.fromkeys(wanted)
    for number in SenderNumber.objects.select_related("owner_team").filter(e164__in=wanted):
        batch.numbers[number.e164] = number

    rounds: list[list[tuple[Pending, SenderNumber, str]]] = []
    others: list[int] = []
    seen: dict[str, int] = {}  # customer → messages of theirs routed set-based so far
    handed_over: set[str] = set()  # customers whose remaining messages take the per-message path
    for message in claimed:
        number = batch.numbers[dialled_number(message)]
        customer = customer_number(message, number) if number is not None else ""
        if (
            number is None
            or not customer
            or customer in handed_over
            or message.provider_status in CONSENT_SIGNALS
            or optout.classify(message.body) is not None
        ):
            others.append(message.id)
            handed_over.add(customer)
            continue
        turn = seen.get(customer, 0)
        seen[customer] = turn + 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append((message, number, customer))
    if not rounds:
        return others

    from textdesk.messaging.inbound import routing_batch

    lock_customers(sorted(seen))
    routing_batch.start(batch)
    try:
        for chosen in rounds:
            _route(batch, chosen)
    finally:
        routing_batch.stop()
    return others


def choose(chosen: list[tuple[Pending, SenderNumber, str]]) -> dict[int, tuple]:
    """Message id → (record type, record id, owner user, owner team, rule) of its winner; none: a new lead."""
    rows = _run(CHOOSE, [[m.id for m, _, _ in chosen], [c for _, _, c in chosen], [n.pk for _, n, _ in chosen]])
    return {row[0]: row[1:] for row in rows}


def _route(batch: Batch, chosen: list[tuple[Pending, SenderNumber, str]]) -> None:
    winners = choose(chosen)

    leads = {m.id: new_lead(customer, number) for m, number, customer in chosen if m.id not in winners}
    if leads:
        insert_leads(list(leads.values()))
    decided: list[Decided] = []
    for message, number, customer in chosen:
        if message.id in leads:
            lead = leads[message.id]
            decided.append(
                Decided(
                    message,
                    number,
                    customer,
                    lead.record_type,
                    lead.pk,
                    Owner(lead.owner_user_id, lead.owner_team_id),
                    routing.NEW_LEAD,
                )
            )
        else:
            record_type, record_id, owner_user_id, owner_team_id, rule = winners[message.id]
            decided.append(
                Decided(message, number, customer, record_type, record_id, Owner(owner_user_id, owner_team_id), rule)
            )

    now = timezone.now()
    conversation_of = dict(
        _run(
            ATTACH,
            [
                [d.message.id for d in decided],
                [d.record_type for d in decided],
                [d.record_id for d in decided],
                [d.customer for d in decided],
                [d.number.pk for d in decided],
                [d.message.created_at for d in decided],
                [d.message.body[:160] for d in decided],
                [d.rule for d in decided],
                now,
                now,
            ],
        )
    )
    _notify(batch, decided, conversation_of, now)


def _notify(batch: Batch, decided: list[Decided], conversation_of: dict[int, int], now: dt.datetime) -> None:
    """The notifications of the routed messages (one statement), then, after commit, their live pushes and each
    notified user's unread count."""
    batch.read_people([d.number for d in decided] + [d.owner for d in decided])  # everyone told or pushed, at once
    rows: list[tuple] = []
    events: list[tuple[str, dict]] = []
    notified: set[int] = set()
    for d in decided:
        message, conversation_id = d.message, conversation_of[d.message.id]
        told = notices.notices(d.number, d.customer, message.body)
        for n in told:
            rows.append(
                (
                    n.user_id,
                    n.kind,
                    n.title,
                    n.body,
                    conversation_id if n.linked else None,
                    message.id if n.linked else None,
                )
            )
            notified.add(n.user_id)
        news = {"event": "message.new", "conversation_id": conversation_id, "message_id": message.id}
        events += [(bus.user_channel(user_id), news) for user_id in notices.watchers(told, d.owner, d.number)]
    if rows:
        _run(NOTIFY, [now] + [list(column) for column in zip(*rows, strict=False)])
    counts = unread.badge_counts(notified) if notified else {}
    events += [
        (bus.user_channel(user_id), {"event": "notification.new", "unread": count}) for user_id, count in counts.items()
    ]
    bus.publish_many_on_commit(events)
