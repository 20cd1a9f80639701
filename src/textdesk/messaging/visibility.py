"""The visibility rule of :mod:`textdesk.domain.visibility` as database queries.

Every query that returns conversations or messages to a user goes through
:func:`visible_conversations`, so the rule is enforced everywhere, not only in views.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from textdesk.crm import record_types
from textdesk.domain.visibility import Viewer
from textdesk.messaging.models import Conversation, Message

RECORD_FIELDS = record_types.LINK_FIELDS


def viewer_for(user) -> Viewer:
    from textdesk.org.models import User

    team_ids = frozenset(user.teams.values_list("id", flat=True))
    sees_team = user.has_perm("org.view_team_conversations")
    teammates = frozenset()
    if sees_team and team_ids:
        teammates = frozenset(User.objects.filter(teams__in=team_ids).values_list("id", flat=True))
    return Viewer(
        user_id=user.pk,
        team_ids=team_ids,
        teammate_ids=teammates,
        sees_team=sees_team,
        sees_all=user.has_perm("org.view_all_conversations"),
    )


def _owned(prefix: str, viewer: Viewer) -> Q:
    users = {viewer.user_id} | (set(viewer.teammate_ids) if viewer.sees_team else set())
    q = Q(**{f"{prefix}owner_user__in": users})
    if viewer.team_ids:
        q |= Q(**{f"{prefix}owner_team__in": viewer.team_ids})
    return q


def conversation_filter(viewer: Viewer, prefix: str = "") -> Q:
    if viewer.sees_all:
        return Q()
    q = _owned(f"{prefix}sender_number__", viewer)
    for field in RECORD_FIELDS:
        q |= _owned(f"{prefix}{field}__", viewer)
    return q


def visible_conversations(user) -> QuerySet[Conversation]:
    if not user.is_authenticated or not user.is_active:
        return Conversation.objects.none()
    return Conversation.objects.filter(conversation_filter(viewer_for(user))).distinct()


def visible_messages(user) -> QuerySet[Message]:
    if not user.is_authenticated or not user.is_active:
        return Message.objects.none()
    return Message.objects.filter(conversation__in=visible_conversations(user).values("id"))
