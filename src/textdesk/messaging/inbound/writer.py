"""The one writer of routing: everything the decided messages of a round change, a statement each for the round.

Whichever ranker decided (the rules in Python, or the same rules as one PostgreSQL statement), what follows is
the same:

1. the new leads are inserted together (their ids are needed next);
2. one statement creates each message's conversation or adds the message to it (one more unread; the summary
   moves only if this message is the latest): ``INSERT … ON CONFLICT (binding) DO UPDATE … RETURNING id``, so a
   conversation created meanwhile (e.g. by a seller's first send) is reused, not duplicated;
3. one statement marks the messages routed, with their conversation, number and deciding rule;
4. one statement inserts the notifications; consent keywords are recorded;
5. after commit, the live events: ``message.new`` to whoever hears about each conversation, then each notified
   user's unread count, together (one Redis round trip).

A round holds at most one message per customer, so no two of its messages share a conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from textdesk.crm.models import Lead
from textdesk.domain import optout, routing
from textdesk.domain.routing import Decision
from textdesk.domain.visibility import Ownership
from textdesk.live import bus
from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
from textdesk.messaging.inbound import notices, sql
from textdesk.messaging.inbound.leads import new_lead
from textdesk.messaging.inbound.snapshot import People, Routable
from textdesk.messaging.models import Conversation, Direction, Message, MessageStatus, Notification, RoutingState

CONSENT_SIGNALS = (optout.OPT_OUT, optout.OPT_IN, optout.HELP)


@dataclass(frozen=True)
class Placed:
    """A decided message and the record it goes to (a new lead has its id by now)."""

    routable: Routable
    record_type: str
    record_id: int
    owner: Ownership
    rule: str

    @property
    def record_key(self) -> str:
        return f"{self.record_type}:{self.record_id}"


def write(decided: list[tuple[Routable, Decision]], people: People) -> None:
    """Apply what the decisions of one round change; the live events leave after commit."""
    if not decided:
        return
    now = timezone.now()
    placed = _place(decided)
    conversation_of = _attach(placed, now)
    told = {
        p.routable.message.id: notices.notices(people, p.routable.number, p.routable.customer, _body(p)) for p in placed
    }
    _insert_notifications(placed, told, conversation_of, now)
    for p in placed:
        _record_consent(p.routable)
    events = []
    for p in placed:
        message_id = p.routable.message.id
        news = {"event": "message.new", "conversation_id": conversation_of[message_id], "message_id": message_id}
        for user_id in notices.watchers(told[message_id], p.routable.number, p.owner, people):
            events.append((bus.user_channel(user_id), news))
    notified = {n.user_id for told_one in told.values() for n in told_one}
    bus.publish_many_on_commit(events + notices.unread_events(notified))


def _body(p: Placed) -> str:
    return p.routable.message.body


def _place(decided: list[tuple[Routable, Decision]]) -> list[Placed]:
    """Each message's record; the new leads are inserted first, in one statement."""
    leads = {r.message.id: new_lead(r.customer, r.number) for r, d in decided if d.candidate is None}
    insert_leads(list(leads.values()))
    placed = []
    for r, decision in decided:
        if decision.candidate is None:
            lead = leads[r.message.id]  # owned as its number is
            placed.append(Placed(r, lead.record_type, lead.pk, r.number.ownership, routing.NEW_LEAD))
        else:
            c = decision.candidate
            placed.append(
                Placed(r, c.record_type, c.record_id, Ownership(c.owner_user_id, c.owner_team_id), decision.rule)
            )
    return placed


def insert_leads(leads: list[Lead]) -> None:
    """Insert new leads (their derived fields set already) in one statement, which gives back their ids."""
    if not leads:
        return
    if connection.features.can_return_rows_from_bulk_insert:
        Lead.objects.bulk_create(leads)
    else:  # the conversations need the ids
        for lead in leads:
            lead.save(force_insert=True)


_RECORD_TYPES = tuple(routing.ENTITY_ORDER)
_LATEST = "(c.last_message_at IS NULL OR c.last_message_at <= excluded.last_message_at)"
_CONVERSATIONS = f"""
INSERT INTO {Conversation._meta.db_table} AS c (
    record_type, {", ".join(f"{t}_id" for t in _RECORD_TYPES)}, record_key, customer_e164, sender_number_id,
    created_at, last_message_at, last_message_preview, last_direction, last_status, unread_count)
SELECT v.record_type, {", ".join(f"CASE WHEN v.record_type = '{t}' THEN v.record_id END" for t in _RECORD_TYPES)},
       v.record_key, v.customer, v.number_id, %s, v.at, v.preview, '{Direction.INBOUND.value}',
       '{MessageStatus.RECEIVED.value}', 1
FROM v WHERE true
ON CONFLICT (record_key, customer_e164, sender_number_id) DO UPDATE SET
    unread_count = c.unread_count + 1,
    last_message_at = CASE WHEN {_LATEST} THEN excluded.last_message_at ELSE c.last_message_at END,
    last_message_preview = CASE WHEN {_LATEST} THEN excluded.last_message_preview ELSE c.last_message_preview END,
    last_direction = CASE WHEN {_LATEST} THEN excluded.last_direction ELSE c.last_direction END,
    last_status = CASE WHEN {_LATEST} THEN excluded.last_status ELSE c.last_status END
RETURNING id, record_key, customer_e164, sender_number_id
"""
_CONVERSATION_COLUMNS = (
    ("record_type", "text"),
    ("record_id", "bigint"),
    ("record_key", "text"),
    ("customer", "text"),
    ("number_id", "bigint"),
    ("at", "timestamptz"),
    ("preview", "text"),
)

_MESSAGES = f"""
UPDATE {Message._meta.db_table} AS m SET conversation_id = v.conversation_id, sender_number_id = v.number_id,
    routing_state = '{RoutingState.ROUTED.value}', routing_rule = v.rule, updated_at = %s
FROM v WHERE m.id = v.id
"""
_MESSAGE_COLUMNS = (("id", "bigint"), ("conversation_id", "bigint"), ("number_id", "bigint"), ("rule", "text"))


def _attach(placed: list[Placed], now) -> dict[int, int]:
    """Create or touch each message's conversation, then mark the messages routed; message id → conversation id."""
    at = connection.ops.adapt_datetimefield_value
    table, params = sql.rows(
        _CONVERSATION_COLUMNS,
        [
            (
                p.record_type,
                p.record_id,
                p.record_key,
                p.routable.customer,
                p.routable.number.id,
                at(p.routable.message.created_at),
                p.routable.message.body[:160],
            )
            for p in placed
        ],
    )
    returned = sql.run(f"WITH {table} {_CONVERSATIONS}", [*params, at(now)])
    conversation = {(key, customer, number_id): pk for pk, key, customer, number_id in returned}
    conversation_of = {
        p.routable.message.id: conversation[(p.record_key, p.routable.customer, p.routable.number.id)] for p in placed
    }
    table, params = sql.rows(
        _MESSAGE_COLUMNS,
        [(p.routable.message.id, conversation_of[p.routable.message.id], p.routable.number.id, p.rule) for p in placed],
    )
    sql.run(f"WITH {table} {_MESSAGES}", [*params, at(now)])
    return conversation_of


_NOTIFICATIONS = f"""
INSERT INTO {Notification._meta.db_table} (user_id, kind, title, body, conversation_id, message_id, created_at)
SELECT v.user_id, v.kind, v.title, v.body, v.conversation_id, v.message_id, %s FROM v
"""
_NOTIFICATION_COLUMNS = (
    ("user_id", "bigint"),
    ("kind", "text"),
    ("title", "text"),
    ("body", "text"),
    ("conversation_id", "bigint"),
    ("message_id", "bigint"),
)


def _insert_notifications(placed: list[Placed], told: dict, conversation_of: dict[int, int], now) -> None:
    rows = []
    for p in placed:
        message_id = p.routable.message.id
        for n in told[message_id]:
            linked = n.linked
            rows.append(
                (
                    n.user_id,
                    n.kind,
                    n.title,
                    n.body,
                    conversation_of[message_id] if linked else None,
                    message_id if linked else None,
                )
            )
    if rows:
        table, params = sql.rows(_NOTIFICATION_COLUMNS, rows)
        sql.run(f"WITH {table} {_NOTIFICATIONS}", [*params, connection.ops.adapt_datetimefield_value(now)])


def _record_consent(r: Routable) -> None:
    """A consent keyword or a provider's consent signal, recorded with the message."""
    message = r.message
    signal = message.provider_status if message.provider_status in CONSENT_SIGNALS else None
    keyword = optout.classify(message.body)
    action = signal or (keyword.action if keyword else None)
    if action is None:
        return
    scope = ALL_NUMBERS if keyword and keyword.all_numbers and action == optout.OPT_OUT else r.number.e164
    record_consent(
        r.customer,
        scope,
        action,
        # the customer's own keyword names the way they asked, even when the provider flagged it too
        "keyword" if keyword else "provider_signal",
        detail=(keyword.word if keyword else signal) or "",
        # what the consent's listeners read of the message (the automatic reply checks it is a customer's own)
        message=Message(
            pk=message.id,
            direction=Direction.INBOUND,
            body=message.body,
            created_at=message.created_at,
            from_number=message.from_number,
            to_number=message.to_number,
        ),
    )
