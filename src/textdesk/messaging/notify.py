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


def conversation_audiences(conversation_ids: Iterable[int]) -> dict[int, set[int]]:
    """:func:`conversation_audience` for many conversations: their owners read in one query, their teams in one more."""
    from textdesk.crm.record_types import RECORD_TYPES

    wanted = sorted(set(conversation_ids))
    if not wanted:
        return {}
    owner_fields = [
        f"{prefix}__{name}"
        for prefix in ("sender_number", *(spec.key for spec in RECORD_TYPES))
        for name in ("owner_user_id", "owner_team_id")
    ]
    rows = list(Conversation.objects.filter(pk__in=wanted).values_list("id", *owner_fields))
    owned: dict[int, tuple[Ownership | None, Ownership | None]] = {}
    for conversation_id, *pairs in rows:
        number = Ownership(pairs[0], pairs[1]) if pairs[0] or pairs[1] else None
        record = None
        for user_id, team_id in zip(pairs[2::2], pairs[3::2], strict=True):
            if user_id or team_id:  # exactly one record is set: the first owner found is its owner
                record = Ownership(user_id, team_id)
                break
        owned[conversation_id] = (number, record)
    members = team_members({team for pair in owned.values() for team in teams_of(*pair)})
    return {conversation_id: audience(number, record, members) for conversation_id, (number, record) in owned.items()}
