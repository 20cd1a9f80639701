"""Search, always through the visibility rule: messages by their words, conversations by the customer's name or
a fragment of a number, records by name.

The meaning of a query and its highlighting are pure (:mod:`textdesk.domain.search`); this module turns a query
into predicates each database can answer from an index (see migration ``messaging.0008_search_indexes``):
PostgreSQL full-text search and trigrams, SQLite FTS5.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from textdesk.crm import record_types
from textdesk.crm.models import Account, Contact, Lead, Opportunity
from textdesk.domain import search as rules
from textdesk.messaging import keyset
from textdesk.messaging.models import Conversation, Direction, Message
from textdesk.messaging.visibility import visible_conversations, visible_messages

# Up to this many matching messages, a word search is answered from the list of their ids (see message_text_match).
RARE_MATCHES = 2000

# A query the planner expects in more than this share of all messages is common: its newest matches are met within
# the first few thousand rows of the newest-first walk, so the GIN index is not asked first. PostgreSQL's default
# guess for a word it has no statistics on is 0.005, below this.
COMMON_SHARE = 0.01

# Records matched by name, per type, that a conversation search looks at (a name is a narrowing, not a list).
NAME_MATCH_CAP = 2000

# The name each record type is found by: the same expression as its trigram index.
NAME_SQL = {
    Account: "{t}.name",
    Contact: "{t}.first_name || ' ' || {t}.last_name",
    Lead: "{t}.first_name || ' ' || {t}.last_name || ' ' || {t}.company_name",
    Opportunity: "{t}.name",
}


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _bool(sql: str, params: list) -> RawSQL:
    return RawSQL(sql, params, output_field=BooleanField())


def message_text_match(query: rules.Query) -> Q:
    """Messages whose body holds every word of the query (as word prefixes, any case, any accents)."""
    if not query.words:
        return Q(pk__in=[])
    if _postgres():
        match = _TsMatch(F("body"), Value(rules.tsquery(query)))
        # Left alone, the planner may walk the newest-first index testing every body, for a word found twice. So
        # the GIN index is asked first, up to a bound: a rare word becomes a list of ids (fetched by primary key,
        # then sorted); a common one stays a predicate, met within the first rows of the newest-first walk. Asking
        # the index costs in proportion to the matches (160 ms for a word in 5% of 5M messages), so a word the
        # statistics already know as common skips it.
        if _expected_share(match) > COMMON_SHARE:
            return Q(match)
        found = list(Message.objects.filter(match).order_by().values_list("pk", flat=True)[: RARE_MATCHES + 1])
        return Q(pk__in=found) if len(found) <= RARE_MATCHES else Q(match)
    table = Message._meta.db_table
    sql = f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH %s"
    return Q(pk__in=RawSQL(sql, [rules.fts5_query(query)]))


def _expected_share(match) -> float:
    """The share of all messages the planner expects ``match`` to hold, from the statistics of the GIN index's
    expression (most common words, prefixes summed); 0 when the table looks empty."""
    sql, params = Message.objects.filter(match).order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Message._meta.db_table])
        total = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]["Plan"]["Plan Rows"] / total if total and total > 0 else 0.0


class _TsMatch(Func):
    """``textdesk_search_vector(body) @@ to_tsquery(…)``: the expression of the GIN index, so the index serves it.

    A function expression rather than raw SQL so that it names the column under whatever alias the query gives
    the message table (a subquery renames it)."""

    template = "textdesk_search_vector(%(expressions)s))"
    arg_joiner = ") @@ to_tsquery('pg_catalog.simple', textdesk_fold("
    arity = 2
    output_field = BooleanField()


def record_name_match(model, text: str) -> Q:
    """Records of ``model`` whose name holds ``text`` (case- and, on PostgreSQL, accent-insensitive)."""
    name = NAME_SQL[model].format(t=model._meta.db_table)
    if _postgres():
        sql = f"textdesk_fold({name}) LIKE textdesk_fold(%s)"
    else:
        sql = f"({name}) LIKE %s ESCAPE '\\'"
    return Q(_bool(sql, [rules.like_fragment(text)]))


def conversation_match(query: rules.Query) -> Q:
    """Conversations whose customer (the record's name) or number matches; no message text."""
    q = Q(pk__in=[])
    if query.digits:
        q |= Q(customer_e164__contains=query.digits)
    if len(query.name_text) >= 2 and query.words and not query.digits:
        for spec in record_types.RECORD_TYPES:
            field, model = spec.key, spec.model
            ids = list(
                model.objects.filter(record_name_match(model, query.name_text))
                .order_by()
                .values_list("pk", flat=True)[:NAME_MATCH_CAP]
            )
            if ids:
                q |= Q(**{f"{field}_id__in": ids})
    return q


def readable_messages(user) -> QuerySet[Message]:
    """Visible messages, without inbound ones for a user who may not receive them (as the message lists)."""
    qs = visible_messages(user)
    if not user.has_perm("org.receive_inbound_messages"):
        qs = qs.exclude(direction=Direction.INBOUND)
    return qs


def search_messages(user, query: rules.Query) -> QuerySet[Message]:
    return readable_messages(user).filter(message_text_match(query))


def search_conversations(user, query: rules.Query) -> QuerySet[Conversation]:
    """Conversations matching by name or number, or holding a message that matches by its words."""
    q = conversation_match(query)
    if query.words:
        q |= Q(pk__in=Message.objects.filter(message_text_match(query)).values("conversation_id"))
    return visible_conversations(user).filter(q)


# ------------------------------------------------------------------ the grid's hits: conversations and messages


@dataclass
class Hit:
    """One search result row: a conversation found by its customer, or a message found by its words."""

    kind: str  # "c" (conversation) or "m" (message)
    at: dt.datetime
    id: int
    conversation: Conversation
    message: Message | None = None


RANK = {"m": 1, "c": 0}  # at the same instant a message is listed before a conversation


def _after(kind: str, cursor: tuple | None, at_field: str) -> Q:
    """Rows of one stream after the merged cursor (at, kind, id), in (at desc, rank desc, id desc)."""
    if cursor is None:
        return Q()
    at, ckind, cid = cursor
    if RANK[kind] < RANK[ckind]:
        return Q(**{f"{at_field}__lte": at})
    if RANK[kind] > RANK[ckind]:
        return Q(**{f"{at_field}__lt": at})
    return Q(**{f"{at_field}__lte": at}) & (Q(**{f"{at_field}__lt": at}) | Q(id__lt=cid))


def hits(
    user, query: rules.Query, limit: int, cursor: tuple | None = None, within=lambda prefix: Q()
) -> tuple[list[Hit], tuple | None]:
    """Newest first: messages matching the words and conversations matching the customer, merged.

    ``within(prefix)`` narrows the conversations (the grid's other filters), reached from messages by ``prefix``.

    Each stream is read in its own index order and cut at ``limit + 1``; the merge keeps the first ``limit``.
    Returns the hits and the cursor of the next page (None at the end).
    """
    related = ("sender_number", *record_types.LINK_FIELDS)
    rows: list[Hit] = []
    if query.words:
        messages = (
            search_messages(user, query)
            .filter(_after("m", cursor, "created_at"), within("conversation__"))
            .select_related(*(f"conversation__{r}" for r in related))
            .order_by("-created_at", "-id")[: limit + 1]
        )
        # Visible messages always have a conversation; the test only tells the type checker so.
        rows += [Hit("m", m.created_at, m.pk, m.conversation, m) for m in messages if m.conversation is not None]
    conversations = (
        visible_conversations(user)
        .filter(conversation_match(query), within(""))
        .annotate(hit_at=Coalesce(F("last_message_at"), F("created_at")))
        .filter(_after("c", cursor, "hit_at"))
        .select_related(*related)
        .order_by("-hit_at", "-id")[: limit + 1]
    )
    rows += [Hit("c", c.hit_at, c.pk, c) for c in conversations]
    rows.sort(key=lambda h: (h.at, RANK[h.kind], h.id), reverse=True)
    page = rows[:limit]
    next_cursor = (page[-1].at, page[-1].kind, page[-1].id) if len(rows) > limit else None
    return page, next_cursor


def cursor_token(cursor: tuple, start: int) -> str:
    at, kind, hit_id = cursor
    return keyset.encode_token([at, kind, hit_id, start])


def read_cursor(token: str) -> tuple[tuple, int]:
    """(the merged cursor, the position of the next hit); :class:`keyset.BadCursor` when unreadable."""
    values = keyset.decode_token(token)
    try:
        at, kind, hit_id, start = values
        if kind not in RANK or not isinstance(hit_id, int) or not isinstance(start, int):
            raise TypeError
        return (dt.datetime.fromisoformat(at), kind, hit_id), max(start, 1)
    except (TypeError, ValueError) as exc:
        raise keyset.BadCursor(token) from exc
