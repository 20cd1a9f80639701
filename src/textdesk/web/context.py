"""Values every page's top bar needs."""

from __future__ import annotations


def topbar(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from textdesk.messaging import unread
    from textdesk.messaging.actions.reading import unread_notifications

    count = unread_notifications(user)
    return {
        "unread_notifications": count,
        "unread_badge": unread.badge_text(count),
        "unread_overflow": count >= unread.BADGE_LIMIT,
        "is_seller": user.has_perm("org.send_messages") or user.has_perm("org.receive_inbound_messages"),
    }
