"""Who hears of a routed inbound message, and of one that could not be routed.

The receiving number's owners get a notification: the message itself for those holding the "receive inbound
text messages" privilege, a note saying whom to ask for it for the others. Everyone who hears about the
conversation (:func:`textdesk.domain.audience.audience`: number and record owners) and may receive messages is
pushed ``message.new`` live, and each notified user their unread count. These functions say what to tell whom,
as plain data; :mod:`.writer` writes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from textdesk.domain import phones
from textdesk.domain.audience import audience, owners
from textdesk.domain.visibility import Ownership
from textdesk.live import bus
from textdesk.messaging import unread
from textdesk.messaging.inbound.snapshot import Claimed, Number, People, Person
from textdesk.messaging.models import Message, Notification, NotificationKind, RoutingState


@dataclass(frozen=True)
class Notice:
    """One notification a routed message gives one user, as plain data (``linked``: it points at the message)."""

    user_id: int
    kind: str
    title: str
    body: str
    linked: bool


def notices(people: People, number: Number, customer: str, body: str) -> list[Notice]:
    """What each of the receiving number's owners is told of a message from this customer, in their language:
    the message itself for those holding the privilege to receive it, whom to ask for it for the others."""
    out = []
    shown = None
    for user_id in sorted(owners(number.ownership, people.team_members)):
        person = people.users.get(user_id)
        if person is None:
            continue  # inactive or gone
        kind, title, fixed_body = _what_to_tell(person)
        if fixed_body is None:
            shown = shown or phones.display(customer)
            out.append(Notice(user_id, kind, (title % {"number": shown})[:200], body[:1000], True))
        else:
            out.append(Notice(user_id, kind, title, fixed_body, False))
    return out


def _what_to_tell(person: Person) -> tuple[str, str, str | None]:
    """(kind, title, body) of this person's notifications, in their language: for one who may receive messages,
    the title is a template for the customer's number and the body (None) is the message's."""
    return _told(person.language or settings.LANGUAGE_CODE, person.may_receive, person.whom_to_ask)


@functools.lru_cache(maxsize=256)
def _told(language: str, may_receive: bool, whom: str) -> tuple[str, str, str | None]:
    with translation.override(language):
        if may_receive:
            return NotificationKind.INBOUND_MESSAGE, _("New text message from %(number)s"), None
        return (
            NotificationKind.MISSING_PRIVILEGE,
            _("A text message arrived for you, but you cannot see it")[:200],
            (
                _("You lack the privilege “%(privilege)s”. Ask %(whom)s to grant it.")
                % {"privilege": _("Receive inbound text messages"), "whom": whom or _("your system administrator")}
            )[:1000],
        )


def watchers(told: list[Notice], number: Number, record: Ownership, people: People) -> list[int]:
    """Who is pushed the message live: the receivers told of it, and whoever else hears about the conversation
    (the record's owners) and may receive messages."""
    informed = {n.user_id for n in told if n.linked}
    others = audience(number.ownership, record, people.team_members) - {n.user_id for n in told}
    return sorted(informed | {u for u in others if u in people.users and people.users[u].may_receive})


def unread_events(user_ids) -> list[tuple[str, dict]]:
    """Each user's unread count as a live event (read now, inside the transaction)."""
    if not user_ids:
        return []
    return [
        (bus.user_channel(user_id), {"event": "notification.new", "unread": count})
        for user_id, count in unread.badge_counts(user_ids).items()
    ]


# ---------------------------------------------------------------- messages that cannot be routed


def mark_failed(failures: list[tuple[Claimed, Callable[[], str]]]) -> None:
    """Keep these messages as ``failed`` and tell the administrators (each ``describe()`` says why, in their
    language); their unread counts are pushed after commit."""
    if not failures:
        return
    Message.objects.filter(pk__in=[m.id for m, _ in failures]).update(
        routing_state=RoutingState.FAILED, updated_at=timezone.now()
    )
    admins = list(_administrators())
    created = []
    for admin in admins:
        with translation.override(admin.language or settings.LANGUAGE_CODE):
            for message, describe in failures:
                created.append(
                    Notification(
                        user=admin,
                        kind=NotificationKind.ROUTING_FAILED,
                        message_id=message.id,
                        title=_("A text message could not be routed")[:200],
                        body=(
                            _("From %(from)s to %(to)s: ") % {"from": message.from_number, "to": message.to_number}
                            + str(describe())
                        )[:1000],
                    )
                )
    Notification.objects.bulk_create(created)
    bus.publish_many_on_commit(unread_events({a.pk for a in admins}))


def _administrators():
    from textdesk.org.models import User
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    return User.objects.filter(Q(is_superuser=True) | Q(groups__name=SYSTEM_ADMINISTRATOR), is_active=True).distinct()
