"""Who hears about a conversation, read from the database: :func:`textdesk.domain.audience.audience` over the
conversation's sender number and record, with their teams' members read in one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from textdesk.domain.audience import audience, teams_of
from textdesk.domain.visibility import Ownership
from textdesk.messaging.models import Conversation, SenderNumber


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
        rows = Team.members.through.objects.filter(team_id__any=wanted).values_list("team_id", "user_id")
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
    """:func:`conversation_audience` for many conversations: their numbers and records read once per kind, by
    primary key (one join of them all took PostgreSQL longer to plan than to run), their teams in one query."""
    from textdesk.crm.record_types import RECORD_TYPES

    wanted = sorted(set(conversation_ids))
    if not wanted:
        return {}
    keys = [spec.key for spec in RECORD_TYPES]
    rows = list(
        Conversation.objects.filter(pk__any=wanted)
        .order_by()
        .values_list("id", "sender_number_id", *(f"{key}_id" for key in keys))
    )

    def owners_of(model, ids: set[int]) -> dict[int, Ownership]:
        if not ids:
            return {}
        found = model.objects.filter(pk__any=sorted(ids)).order_by().values_list("id", "owner_user_id", "owner_team_id")
        return {pk: Ownership(user_id, team_id) for pk, user_id, team_id in found}

    numbers = owners_of(SenderNumber, {row[1] for row in rows if row[1]})
    records = {
        spec.key: owners_of(spec.model, {row[2 + i] for row in rows if row[2 + i]})
        for i, spec in enumerate(RECORD_TYPES)
    }
    owned: dict[int, tuple[Ownership | None, Ownership | None]] = {}
    for conversation_id, number_id, *record_ids in rows:
        record = next(
            (records[key].get(record_id) for key, record_id in zip(keys, record_ids, strict=True) if record_id), None
        )
        owned[conversation_id] = (numbers.get(number_id), record)
    members = team_members({team for pair in owned.values() for team in teams_of(*pair)})
    return {conversation_id: audience(number, record, members) for conversation_id, (number, record) in owned.items()}
