"""What a user has seen: notifications marked read, conversations' unread counters cleared."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from textdesk.live import bus
from textdesk.messaging import unread
from textdesk.messaging.models import Conversation, Notification


def unread_notifications(user) -> int:
    """The bell's count (up to ``unread.BADGE_LIMIT``, shown as "99+")."""
    return unread.badge_count(user.pk)


def _push_unread(user) -> None:
    # Other open tabs of the same user update their bell too.
    bus.notify_users_on_commit([user.pk], "notification.read", {"unread": unread_notifications(user)})


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


@transaction.atomic
def mark_conversation_read(user, conversation: Conversation) -> None:
    """The user opened the conversation: its unread counter and their notifications about it are cleared."""
    from textdesk.compliance import audit  # compliance depends on messaging, not the reverse

    audit.record("read", actor=user, target_type="conversation", target_id=conversation.pk)
    changed = Conversation.objects.filter(pk=conversation.pk, unread_count__gt=0).update(unread_count=0)
    cleared = Notification.objects.filter(user=user, conversation=conversation, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if changed or cleared:
        conversation.unread_count = 0
        _push_unread(user)
