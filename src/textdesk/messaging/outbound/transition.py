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
