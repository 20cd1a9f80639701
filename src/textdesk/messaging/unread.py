"""The bell's unread count: exact up to 99, then "99+".

Counting a user's unread notifications reads one index entry per notification, so a
seller who never opens the bell would make every new message (and every page) cost
more. The count stops at ``BADGE_LIMIT``: the bell shows "99+", and the work per
count is bounded whatever the backlog. The API's notification list still counts
exactly, on request.
"""

from __future__ import annotations

from collections.abc import Iterable

from textdesk.messaging.models import Notification

BADGE_LIMIT = 100  # a count of 100 means "more than 99"


def badge_count(user_id: int) -> int:
    """Unread notifications of the user, counted up to ``BADGE_LIMIT``."""
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).order_by()[:BADGE_LIMIT].count()


def badge_counts(user_ids: Iterable[int]) -> dict[int, int]:
    return {user_id: badge_count(user_id) for user_id in sorted(set(user_ids))}


def badge_text(count: int) -> str:
    return f"{BADGE_LIMIT - 1}+" if count >= BADGE_LIMIT else str(count)
