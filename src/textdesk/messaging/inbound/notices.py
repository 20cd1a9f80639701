"""Who hears of a routed inbound message, and of one that could not be routed.

The receiving number's owners get a notification: the message itself for those holding the "receive inbound
text messages" privilege, a note saying whom to ask for it for the others. Everyone who can see the
conversation (number and record owners) is pushed ``message.new`` live, and each notified user their unread
count. Within a batch all of that is collected and written once when the batch ends (:func:`deliver`), the
pushes after commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext as _

from textdesk.crm.models import OwnedRecord
from textdesk.domain import phones
from textdesk.live import bus
from textdesk.messaging import unread
from textdesk.messaging.inbound import routing_batch
from textdesk.messaging.inbound.routing_batch import active_users, current, may_receive, team_members
from textdesk.messaging.models import (
    Conversation,
    Message,
    Notification,
    NotificationKind,
    RoutingState,
    SenderNumber,
)


def mark_failed(message: Message, describe) -> None:
    """Keep the message as ``failed`` and tell the administrators (``describe()`` says why, in their language)."""
    message.routing_state = RoutingState.FAILED
    message.save(update_fields=["routing_state", "updated_at"])
    admins = list(_administrators())
    for admin in admins:
        with translation.override(admin.language or settings.LANGUAGE_CODE):
            Notification.objects.create(
                user=admin,
                kind=NotificationKind.ROUTING_FAILED,
                message=message,
                title=_("A text message could not be routed")[:200],
                body=(
                    _("From %(from)s to %(to)s: ") % {"from": message.from_number, "to": message.to_number}
                    + str(describe())
                )[:1000],
            )
    push_unread([a.pk for a in admins])


def _administrators():
    from textdesk.org.models import User
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    return User.objects.filter(Q(is_superuser=True) | Q(groups__name=SYSTEM_ADMINISTRATOR), is_active=True).distinct()


def _whom_to_ask(user) -> str:
    batch = current()
    if batch is not None and user.pk in batch.whom:
        return batch.whom[user.pk]
    from textdesk.org.models import User
    from textdesk.org.roles import SALES_MANAGER, SYSTEM_ADMINISTRATOR

    team_ids = list(user.teams.values_list("id", flat=True))
    people = (
        User.objects.filter(
            Q(groups__name=SYSTEM_ADMINISTRATOR) | Q(groups__name=SALES_MANAGER, teams__in=team_ids), is_active=True
        )
        .exclude(pk=user.pk)
        .distinct()
        .order_by("username")[:5]
    )
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
    return set(team_members(number.owner_team_id))


def _conversation_audience(record: OwnedRecord, number: SenderNumber) -> set[int]:
    """As :func:`textdesk.messaging.notify.conversation_audience`, for the record and number at hand."""
    users = _number_audience(number)
    if record.owner_user_id:
        users.add(record.owner_user_id)
    elif record.owner_team_id:
        users |= team_members(record.owner_team_id)
    return users


@dataclass(frozen=True)
class Notice:
    """One notification a routed message gives one user, as plain data (``linked``: it points at the message)."""

    user_id: int
    kind: str
    title: str
    body: str
    linked: bool


def notices(number: SenderNumber, customer_e164: str, body: str) -> list[Notice]:
    """What each of the receiving number's owners is told of a message from this customer, in their language:
    the message itself for those holding the privilege to receive it, whom to ask for it for the others."""
    out = []
    customer = None
    for user in active_users(_number_audience(number)):
        kind, title, fixed_body = _what_to_tell(user)
        if fixed_body is None:
            customer = customer or phones.display(customer_e164)
            out.append(Notice(user.pk, kind, (title % {"number": customer})[:200], body[:1000], True))
        else:
            out.append(Notice(user.pk, kind, title, fixed_body, False))
    return out


def _what_to_tell(user) -> tuple[str, str, str | None]:
    """(kind, title, body) of this user's notifications, in their language: for one who may receive messages, the
    title is a template for the customer's number and the body (None) is the message's. Once per user per batch."""
    batch = current()
    if batch is not None and user.pk in batch.told:
        return batch.told[user.pk]
    with translation.override(user.language or settings.LANGUAGE_CODE):
        if may_receive(user):
            told = (NotificationKind.INBOUND_MESSAGE, _("New text message from %(number)s"), None)
        else:
            told = (
                NotificationKind.MISSING_PRIVILEGE,
                _("A text message arrived for you, but you cannot see it")[:200],
                (
                    _("You lack the privilege “%(privilege)s”. Ask %(whom)s to grant it.")
                    % {"privilege": _("Receive inbound text messages"), "whom": _whom_to_ask(user)}
                )[:1000],
            )
    if batch is not None:
        batch.told[user.pk] = told
    return told


def watchers(told: list[Notice], record: OwnedRecord, number: SenderNumber) -> list[int]:
    """Who is pushed the message live: the receivers told of it, and whoever else sees the conversation (the
    record's owners) and may receive messages."""
    informed = {n.user_id for n in told if n.linked}
    others = _conversation_audience(record, number) - {n.user_id for n in told}
    return sorted(informed | {u.pk for u in active_users(others) if may_receive(u)})


def notify(message: Message, conversation: Conversation, number: SenderNumber) -> None:
    """Notify the receiving number's owners of a routed message and push it to whoever sees the conversation."""
    told = notices(number, conversation.customer_e164, message.body)
    created = [
        Notification(
            user_id=n.user_id,
            kind=n.kind,
            title=n.title,
            body=n.body,
            conversation=conversation if n.linked else None,
            message=message if n.linked else None,
        )
        for n in told
    ]
    batch = current()
    if batch is not None:
        batch.pending_notifications += created  # written with the batch's others (see deliver)
    else:
        Notification.objects.bulk_create(created)
    pushed = watchers(told, conversation.record, number)
    if pushed:
        if batch is not None:
            batch.pending_pushes.append((pushed, message, conversation))  # built in deliver
        else:
            bus.notify_users_on_commit(pushed, "message.new", _news(message, conversation))
    push_unread([n.user_id for n in told])


def push_unread(user_ids) -> None:
    """Tell each user their unread count after commit (within a batch: once per user, when the batch ends)."""
    batch = current()
    if batch is not None:
        batch.pending_unread |= set(user_ids)
        return
    bus.publish_many_on_commit(_unread_events(set(user_ids)))


def _news(message: Message, conversation: Conversation) -> dict:
    return {"conversation_id": conversation.pk, "message_id": message.pk}


def deliver(batch: routing_batch.Batch) -> None:
    """Write the batch's notifications at once; after commit push its messages and each user's unread count once.

    Runs after the batch wrote what it deferred: its new conversations have their ids only then."""
    batch.keep_notifications()
    Notification.objects.bulk_create(batch.notifications)  # fills in the ids of the conversations they point at
    events = [
        (bus.user_channel(user_id), {"event": "message.new", **_news(message, conversation)})
        for user_ids, message, conversation in batch.pushes
        for user_id in user_ids
    ]
    bus.publish_many_on_commit(events + _unread_events(batch.unread_users))


def _unread_events(user_ids: set[int]) -> list[tuple[str, dict]]:
    """Each user's unread count as a live event (read now, inside the transaction)."""
    if not user_ids:
        return []
    return [
        (bus.user_channel(user_id), {"event": "notification.new", "unread": count})
        for user_id, count in unread.badge_counts(user_ids).items()
    ]
