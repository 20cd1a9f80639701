"""The visibility rule of :mod:`textdesk.domain.visibility` as database queries.

Every query that returns conversations or messages to a user goes through
:func:`visible_conversations` / :func:`visible_messages`, so the rule is enforced everywhere, not only in views.

The rule is one ``WHERE`` predicate over the conversation row and the rows it points at (its sender number and
its record: every join is many-to-one), so a visible list needs no ``DISTINCT`` and the planner can walk the
list's sort index, checking each row with a few primary-key lookups, and stop after one page.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from textdesk.crm import record_types
from textdesk.domain.visibility import Viewer
from textdesk.messaging.models import Conversation, Message, SenderNumber

RECORD_FIELDS = record_types.LINK_FIELDS


def viewer_for(user) -> Viewer:
    from textdesk.org.models import User

    team_ids = frozenset(user.teams.values_list("id", flat=True))
    sees_team = user.has_perm("org.view_team_conversations")
    teammates: frozenset[int] = frozenset()
    if sees_team and team_ids:
        teammates = frozenset(User.objects.filter(teams__in=team_ids).values_list("id", flat=True))
    return Viewer(
        user_id=user.pk,
        team_ids=team_ids,
        teammate_ids=teammates,
        sees_team=sees_team,
        sees_all=user.has_perm("org.view_all_conversations"),
    )


def _owners(viewer: Viewer) -> tuple[list[int], list[int]]:
    users = {viewer.user_id} | (set(viewer.teammate_ids) if viewer.sees_team else set())
    return sorted(users), sorted(viewer.team_ids)


def _owned(prefix: str, users: list[int], teams: list[int]) -> Q:
    q = Q(**{f"{prefix}owner_user_id__in": users})
    if teams:
        q |= Q(**{f"{prefix}owner_team_id__in": teams})
    return q


def conversation_filter(viewer: Viewer, prefix: str = "") -> Q:
    """The rule as a predicate on conversations (``prefix`` reaches them from another model, e.g. ``conversation__``).

    The sender numbers a viewer owns are few: they are matched by id against a subquery on the small numbers
    table; the record's owner is read through the record's own (many-to-one) join.
    """
    if viewer.sees_all:
        return Q()
    users, teams = _owners(viewer)
    numbers = SenderNumber.objects.filter(_owned("", users, teams)).values("id")
    q = Q(**{f"{prefix}sender_number_id__in": numbers})
    for field in RECORD_FIELDS:
        q |= _owned(f"{prefix}{field}__", users, teams)
    return q


def visible_conversations(user) -> QuerySet[Conversation]:
    if not user.is_authenticated or not user.is_active:
        return Conversation.objects.none()
    return Conversation.objects.filter(conversation_filter(viewer_for(user)))


def visible_messages(user) -> QuerySet[Message]:
    """Messages of visible conversations (a message not yet routed to a conversation is visible to nobody)."""
    if not user.is_authenticated or not user.is_active:
        return Message.objects.none()
    return Message.objects.filter(conversation__isnull=False).filter(
        conversation_filter(viewer_for(user), prefix="conversation__")
    )
