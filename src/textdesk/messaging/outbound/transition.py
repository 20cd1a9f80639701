"""The one writer of an outbound message's status.

Every change of an outbound message's status (the worker's attempts and answers, delivery reports, the sweeper's
reconciliation) goes through :func:`transition`, inside the caller's transaction. It

- moves the status only along ``domain.status.TRANSITIONS`` (a conditional UPDATE: a concurrent writer that got
  there first makes it a no-op, never a step backwards),
- keeps the change in the status history (``MessageEvent``),
- keeps the conversation's summary (``last_status``) when the message is its latest,
- pushes ``message.status`` to the conversation's audience after the commit,
- and, when the message ends failed or of unknown outcome, leaves a *Message not
  delivered* notice for its author (or the record's owner) with the reason and its fix, and pushes
  ``notification.new`` with each recipient's unread count (so the bell's badge moves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models.expressions import Combinable
from django.utils import timezone
from django.utils.translation import gettext as _

from textdesk.domain import failures
from textdesk.domain import status as st
from textdesk.live import bus
from textdesk.messaging.models import Conversation, Message, MessageEvent, Notification, NotificationKind

# Statuses the author hears about (a notification with the reason and its fix).
# (*No delivery report* is explained where the message is shown; it most likely arrived, so no notice.)
NOTICE_ON = frozenset({st.FAILED, st.UNKNOWN})
# Statuses that tell the rest of the product a text did not reach its recipient (``signals.text_not_delivered``).
NOT_DELIVERED = frozenset({st.FAILED, st.UNDELIVERED})


def sources_of(target: str) -> list[str]:
    """Every status from which ``target`` may be reached."""
    return [source for source in st.TRANSITIONS if st.may_transition(source, target)]


def transition(
    message: Message,
    to: str,
    *,
    expect: frozenset[str] | set[str] | tuple[str, ...] | None = None,
    where: dict | None = None,
    fields: dict | None = None,
    detail: str = "",
    provider_status: str = "",
    code: str = "",
    event_status: str | None = None,
    notice: bool = True,
) -> MessageEvent | None:
    """Move ``message`` to ``to`` inside the caller's transaction: its history entry, or None (nothing written)
    when it may not.

    ``expect`` narrows the statuses the message may be in (e.g. ``{sending}``), ``where`` adds conditions on other
    columns (e.g. no provider id yet), ``fields`` are written with the status (expressions allowed; the caller
    then updates its instance). The decision is taken by the UPDATE itself, so two writers racing cannot both win.
    """
    sources = sources_of(to)
    if expect is not None:
        sources = [source for source in sources if source in expect]
    if not sources:
        return None
    now = timezone.now()
    values = {**(fields or {}), "status": to, "updated_at": now}
    if not Message.objects.filter(pk=message.pk, status__in=sources, **(where or {})).update(**values):
        return None
    for name, value in values.items():
        if not isinstance(value, Combinable):
            setattr(message, name, value)
    event = record_event(message, event_status or to, provider_status=provider_status, code=code, detail=detail)
    if set(sources) != {to}:  # news without a change of status (sending -> sending) leaves the summary as it is
        keep_summary(message)
    push_status(message)
    # The table has no step from one of these statuses to itself: reaching one is always news.
    if to in NOTICE_ON and notice:
        notify_failure(message)
    if to in NOT_DELIVERED:
        from textdesk.messaging import signals

        signals.text_not_delivered.send(sender=Message, message=message)
    return event


def transition_many(
    messages: Sequence[Message],
    to: str,
    *,
    expect: frozenset[str] | set[str] | tuple[str, ...] | None = None,
    where: dict | None = None,
    fields: dict | None = None,
    fields_of: Mapping[int, dict] | None = None,
    detail_of: Mapping[int, str] | None = None,
    provider_status_of: Mapping[int, str] | None = None,
    notice: bool = True,
) -> list[Message]:
    """:func:`transition` for many messages at once, inside the caller's transaction: the messages that moved.

    The same rules, decided the same way for each message: the rows that may move (status among the sources of
    ``to`` and ``expect``, ``where``) are locked in id order and only they are written, in one statement for the
    values every message shares (``fields``, expressions allowed) and one for each message's own values
    (``fields_of``, plain values); then their history entries in one insert, the conversations' summaries, and
    one after-commit push for them all. ``detail_of`` and ``provider_status_of`` give each history entry its text.
    """
    sources = sources_of(to)
    if expect is not None:
        sources = [source for source in sources if source in expect]
    by_id = {message.pk: message for message in messages}
    if not sources or not by_id:
        return []
    # Locked by primary key, the status checked on the locked rows: with the status in the query, the plan could
    # follow the status index's statistics (stale between analyses) through every queued message's entries, dead
    # ones included.
    locked = (
        Message.objects.select_for_update()
        .filter(pk__any=sorted(by_id), **(where or {}))
        .order_by("pk")
        .values_list("pk", "status")
    )
    moving = [(pk, status) for pk, status in locked if status in sources]
    if not moving:
        return []
    ids = [pk for pk, _status in moving]
    now = timezone.now()
    values = {**(fields or {}), "status": to, "updated_at": now}
    if not _write_with_own_values(ids, values, fields_of or {}):
        Message.objects.filter(pk__any=ids).update(**values)
        if fields_of:
            _write_own_values(ids, fields_of)
    moved = []
    for pk, status in moving:
        message = by_id[pk]
        for name, value in values.items():
            if not isinstance(value, Combinable):
                setattr(message, name, value)
        for name, value in (fields_of or {}).get(pk, {}).items():
            setattr(message, name, value)
        message._textdesk_was = status  # type: ignore[attr-defined]  # read back below, per message
        moved.append(message)
    _record_events(moved, to, now, provider_status_of or {}, detail_of or {})
    keep_summaries([message for message in moved if message._textdesk_was != to])  # type: ignore[attr-defined]
    push_statuses(moved)
    for message in moved:
        if to in NOTICE_ON and notice:
            notify_failure(message)
        if to in NOT_DELIVERED:
            from textdesk.messaging import signals

            signals.text_not_delivered.send(sender=Message, message=message)
    return moved


def _record_events(
    messages: Sequence[Message],
    status: str,
    at: Any,
    provider_status_of: Mapping[int, str],
    detail_of: Mapping[int, str],
) -> None:
    """One history entry per message, all at ``at`` (kept on each message as ``_textdesk_event_at``): one
    ``INSERT … SELECT FROM unnest(…)`` on PostgreSQL (building a model instance per entry cost more than the
    insert), ``bulk_create`` elsewhere."""
    rows = [(m.pk, (provider_status_of.get(m.pk) or "")[:40], (detail_of.get(m.pk) or "")[:1000]) for m in messages]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(MessageEvent._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (message_id, at, status, provider_status, provider_code, detail, applied) "
                "SELECT id, %s, %s, provider_status, '', detail, true "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, provider_status, detail)",
                [at, status, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
    else:
        MessageEvent.objects.bulk_create(
            [
                MessageEvent(message_id=pk, at=at, status=status, provider_status=provider_status, detail=detail)
                for pk, provider_status, detail in rows
            ]
        )
    for message in messages:
        message._textdesk_event_at = at  # type: ignore[attr-defined]  # when its history entry was written


def _write_with_own_values(ids: list[int], values: dict, fields_of: Mapping[int, dict]) -> bool:
    """The shared values and each message's own in one ``UPDATE … FROM unnest(…)`` (PostgreSQL, every message with
    the same own fields, no expression among the shared ones): whether it was done. Two statements would write
    every row twice (each version of a message also goes into all its indexes)."""
    names = sorted({name for pk in ids for name in fields_of.get(pk, {})})
    if (
        connection.vendor != "postgresql"
        or not names
        or any(isinstance(value, Combinable) for value in values.values())
        or any(fields_of.get(pk, {}).keys() != set(names) for pk in ids)
        or set(names) & set(values)
    ):
        return False
    meta = Message._meta
    own: list[Any] = [meta.get_field(name) for name in names]  # concrete fields of Message
    shared: list[Any] = [meta.get_field(name) for name in values]
    table = connection.ops.quote_name(meta.db_table)
    assignments = [f"{connection.ops.quote_name(f.column)} = %s" for f in shared]
    assignments += [f"{connection.ops.quote_name(f.column)} = v.c{i}" for i, f in enumerate(own)]
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in own)
    aliases = ", ".join(f"c{i}" for i in range(len(own)))
    params = [f.get_db_prep_value(values[f.name], connection) for f in shared] + [ids]
    params += [[f.get_db_prep_value(fields_of[pk][f.name], connection) for pk in ids] for f in own]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {', '.join(assignments)} FROM unnest(%s::bigint[], {arrays}) AS v(id, {aliases}) "
            f"WHERE {table}.id = v.id",
            params,
        )
    return True


def _write_own_values(ids: list[int], fields_of: Mapping[int, dict]) -> None:
    """Each message's own values: one ``UPDATE … FROM unnest(…)`` on PostgreSQL, a statement per message elsewhere."""
    if _write_with_own_values(ids, {}, fields_of):
        return
    for pk in ids:
        if fields_of.get(pk):
            Message.objects.filter(pk=pk).update(**fields_of[pk])


def keep_summaries(messages: Sequence[Message]) -> None:
    """:func:`keep_summary` for many messages (one statement on PostgreSQL)."""
    rows = [(m.conversation_id, m.created_at, m.status) for m in messages if m.conversation_id]
    if not rows:
        return
    if connection.vendor != "postgresql":
        for message in messages:
            keep_summary(message)
        return
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        # A conversation's latest message among several moving at once decides its summary.
        cursor.execute(
            f"UPDATE {table} SET last_status = v.status FROM ("
            f"SELECT DISTINCT ON (id) id, created, status FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) "
            f"AS u(id, created, status) ORDER BY id, created DESC) AS v "
            f"WHERE {table}.id = v.id AND {table}.last_message_at <= v.created",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        )


def push_statuses(messages: Sequence[Message]) -> None:
    """:func:`push_status` for many messages, published together after the commit."""
    items = []
    for message in messages:
        if not message.conversation_id:
            continue
        payload = {
            "event": "message.status",
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "status": message.status,
        }
        items += [(bus.user_channel(user_id), payload) for user_id in sorted(audience(message))]
    bus.publish_many_on_commit(items)


def record_event(
    message: Message, status: str, *, provider_status: str = "", code: str = "", detail: str = "", applied: bool = True
) -> MessageEvent:
    """One history entry (also for news that changes nothing: ``applied=False`` when precedence kept the status)."""
    return MessageEvent.objects.create(
        message=message,
        status=status,
        provider_status=(provider_status or "")[:40],
        provider_code=str(code)[:40],
        detail=(detail or "")[:1000],
        applied=applied,
    )


def keep_summary(message: Message) -> None:
    """The conversation's last status follows its latest message."""
    if message.conversation_id:
        Conversation.objects.filter(pk=message.conversation_id, last_message_at__lte=message.created_at).update(
            last_status=message.status
        )


def audience(message: Message) -> set[int]:
    """Who hears about the message's conversation, looked up once per conversation instance."""
    from textdesk.messaging.notify import conversation_audience

    known = getattr(message, "_textdesk_audience", None)  # worked out for a batch (the send pipeline's claims)
    if known is not None:
        return known
    conversation = message.conversation
    if conversation is None:  # callers ask only for messages of a conversation
        return set()
    users = getattr(conversation, "_textdesk_audience", None)
    if users is None:
        users = conversation_audience(conversation)
        setattr(conversation, "_textdesk_audience", users)  # noqa: B010 (a cache the model does not declare)
    return users


def push_status(message: Message) -> None:
    if not message.conversation_id:
        return
    bus.notify_users_on_commit(
        audience(message),
        "message.status",
        {"conversation_id": message.conversation_id, "message_id": message.pk, "status": message.status},
    )


def notice_recipients(message: Message) -> set[int]:
    """The author; for a system send, the record's owner (or its owning team's members)."""
    if message.author_id:
        return {message.author_id}
    users: set[int] = set()
    if message.conversation is not None:
        record = message.conversation.record
        if record is not None and record.owner_user_id:
            users.add(record.owner_user_id)
        elif record is not None and record.owner_team_id:
            users |= set(record.owner_team.members.values_list("id", flat=True))
    return users


def notify_failure(message: Message) -> None:
    """A *Message not delivered* notice with the reason and its fix; after commit each recipient's bell moves."""
    from textdesk.messaging import unread

    reason = message.failure_reason or (failures.OUTCOME_UNKNOWN if message.status == st.UNKNOWN else "")
    described = failures.describe(reason)
    users = notice_recipients(message)
    if not users:
        return
    Notification.objects.bulk_create(
        [
            Notification(
                user_id=user_id,
                kind=NotificationKind.SEND_FAILED,
                title=(_("Message to %(number)s not delivered") % {"number": message.to_number})[:200],
                body=f"{described.title}. {described.fix}"[:1000],
                conversation_id=message.conversation_id,
                message=message,
            )
            for user_id in sorted(users)
        ]
    )
    bus.publish_many_on_commit(
        [
            (
                bus.user_channel(user_id),
                {
                    "event": "notification.new",
                    "message_id": message.pk,
                    "kind": NotificationKind.SEND_FAILED,
                    "unread": count,
                },
            )
            for user_id, count in unread.badge_counts(users).items()
        ]
    )
