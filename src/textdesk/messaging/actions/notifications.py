"""Reading in-app notifications; every open session of the user hears the new unread count."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from textdesk.live import bus
from textdesk.messaging import unread
from textdesk.messaging.models import Notification


def _push_unread(user) -> None:
    bus.notify_users_on_commit([user.pk], "notification.read", {"unread": unread.badge_count(user.pk)})


@transaction.atomic
def mark_read(user, notification_id: int) -> Notification | None:
    """Mark one of the user's notifications read; None when it is not theirs (or does not exist)."""
    notification = Notification.objects.select_for_update().filter(pk=notification_id, user=user).first()
    if notification is None:
        return None
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        _push_unread(user)
    return notification


@transaction.atomic
def mark_all_read(user) -> int:
    marked = Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    if marked:
        _push_unread(user)
    return marked
