"""The set-based ranker of PostgreSQL: the seed's routing rules for every message of a round in one statement.

Deciding message by message costs the worker model instances and a query per lookup; on PostgreSQL one statement
(:data:`CHOOSE`) finds every candidate of every message of a round (phone fields, existing conversations) and
ranks them by the seed's rules, naming the rule that separated the winner from the runner-up. It answers with
the same :class:`~textdesk.domain.routing.Decision` as :func:`textdesk.domain.routing.choose_record`, and what
follows (:mod:`.writer`) does not know which of the two decided.

The ranking in :data:`CHOOSE` is :func:`~textdesk.domain.routing.choose_record` written as an ``ORDER BY``; both
are held to the same decisions, and to the same written rows and live events, by a property test
(tests/inbound/test_routing_sql.py) that routes the same random worlds through each.

The phone lookups read the partial indexes of the phone columns (empty fields are NULL, outside them), one
customer at a time (``LATERAL``), so the plan is the same whatever the batch's size or the share of records
without a phone.
"""

from __future__ import annotations

import psycopg
from django.db import connection

from textdesk.crm.record_types import KEYS, LINK_FIELDS, PHONE_RECORD_TYPES
from textdesk.domain import routing
from textdesk.domain.routing import Candidate, Decision
from textdesk.messaging.inbound import sql
from textdesk.messaging.inbound.snapshot import Claimed, Routable
from textdesk.messaging.models import Direction, RoutingState

CLAIM = f"""
SELECT id, from_number, to_number, body, provider_status, created_at FROM messaging_message
WHERE routing_state = '{RoutingState.PENDING.value}' AND direction = '{Direction.INBOUND.value}'
ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""

_PHONE_MATCH = " UNION ".join(
    f"SELECT '{record_type}' AS record_type, id AS record_id FROM crm_{record_type} "
    f"WHERE {column} = n.customer AND {column} IS NOT NULL"
    for record_type in PHONE_RECORD_TYPES
    for column in ("mobile_phone_e164", "business_phone_e164")
)
_RECORD = " UNION ALL ".join(
    f"SELECT owner_user_id, owner_team_id, is_active, modified_at FROM crm_{record_type} "
    f"WHERE k.record_type = '{record_type}' AND id = k.record_id"
    for record_type in KEYS
)
_LINKED_RECORD = f"COALESCE({', '.join(f'c.{field}_id' for field in LINK_FIELDS)})"
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
    SELECT n.message_id, c.record_type, {_LINKED_RECORD} AS record_id,
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
SELECT message_id, record_type, record_id, owner_user_id, owner_team_id, is_active, modified_at, talk_at,
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


def available() -> bool:
    """Whether the set-based ranker can run here (it is PostgreSQL's)."""
    return sql.is_postgresql()


def claim(size: int) -> list[Claimed]:
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
    more than running it, and its plan does not depend on the batch (every lookup is by index, per customer).
    Nor does PostgreSQL compile them (JIT): its cost estimate of a generic plan can pass the JIT threshold, and
    compiling then took longer than the whole batch's work."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        # One round trip: no parameters, so these go as one simple query (the size is an int of ours).
        cursor.execute(
            f"SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL synchronous_commit = off; "
            f"SET LOCAL jit = off; SET LOCAL enable_bitmapscan = off; {CLAIM % int(size)}; "
            "SET LOCAL enable_bitmapscan = on"
        )
        while (
            cursor.description is None
            or cursor.pgresult is None
            or cursor.pgresult.status != psycopg.pq.ExecStatus.TUPLES_OK
        ):
            cursor.nextset()
        return [Claimed(*row) for row in cursor.fetchall()]


def choose(chosen: list[Routable]) -> dict[int, Decision]:
    """Message id → its :class:`~textdesk.domain.routing.Decision`, as :func:`~textdesk.domain.routing.choose_record`
    decides over the message's candidates (one customer at most once in ``chosen``)."""
    ids = [r.message.id for r in chosen]
    rows = sql.run(CHOOSE, [ids, [r.customer for r in chosen], [r.number.id for r in chosen]])
    decisions = {message_id: Decision(None, routing.NEW_LEAD) for message_id in ids}
    for message_id, record_type, record_id, user_id, team_id, is_active, modified_at, talk_at, rule in rows:
        candidate = Candidate(record_type, record_id, user_id, team_id, is_active, modified_at, talk_at)
        decisions[message_id] = Decision(candidate, rule)
    return decisions
