"""The bell's unread count: exact up to 99, then "99+".

Counting a user's unread notifications reads one index entry per notification, so a
seller who never opens the bell would make every new message (and every page) cost
more. The count stops at ``BADGE_LIMIT``: the bell shows "99+", and the work per
count is bounded whatever the backlog. The API's notification list still counts
exactly, on request.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from textdesk.messaging.models import Notification

BADGE_LIMIT = 100  # a count of 100 means "more than 99"


def badge_count(user_id: int) -> int:
    """Unread notifications of the user, counted up to ``BADGE_LIMIT``."""
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).order_by()[:BADGE_LIMIT].count()


def badge_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """``badge_count`` of several users in one round trip (a bounded count per user, glued by UNION ALL)."""
    ids = sorted({int(user_id) for user_id in user_ids})
    if len(ids) <= 1:
        return {user_id: badge_count(user_id) for user_id in ids}
    table = connection.ops.quote_name(Notification._meta.db_table)
    one = (
        f"SELECT %s, (SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE user_id = %s AND read_at IS NULL "
        f"LIMIT {BADGE_LIMIT}) AS unread)"
    )
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join([one] * len(ids)), [x for user_id in ids for x in (user_id, user_id)])
        return {int(user_id): int(count) for user_id, count in cursor.fetchall()}


def badge_text(count: int) -> str:
    return f"{BADGE_LIMIT - 1}+" if count >= BADGE_LIMIT else str(count)
