"""Who hears about a conversation, read from the database: :func:`textdesk.domain.audience.audience` over the
conversation's sender number and record, with their teams' members read in one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from textdesk.domain.audience import audience, teams_of
from textdesk.domain.visibility import Ownership
from textdesk.messaging.models import Conversation


def ownership(owned) -> Ownership | None:
    """The owner of a number or a record (anything with ``owner_user_id`` and ``owner_team_id``), as plain data."""
    if owned is None:
        return None
    return Ownership(owned.owner_user_id, owned.owner_team_id)


def team_members(team_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """The members of these teams (one query; none when there is no team)."""
    from textdesk.org.models import Team

    wanted = sorted(set(team_ids))
    found: dict[int, set[int]] = defaultdict(set)
    if wanted:
        rows = Team.members.through.objects.filter(team_id__in=wanted).values_list("team_id", "user_id")
        for team_id, user_id in rows:
            found[team_id].add(user_id)
    return {team_id: frozenset(found[team_id]) for team_id in wanted}


def number_audience(sender_number) -> set[int]:
    """The receiving number's owner, or the members of its owning team."""
    number = ownership(sender_number)
    return audience(number, None, team_members(teams_of(number)))


def conversation_audience(conversation: Conversation) -> set[int]:
    """Users to push live updates of this conversation to: number owners and record owners."""
    number, record = ownership(conversation.sender_number), ownership(conversation.record)
    return audience(number, record, team_members(teams_of(number, record)))
