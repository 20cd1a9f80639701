"""Who hears about a conversation: the one rule behind every live push and notification of a conversation.

A conversation is heard about by the owners of its sender number and of its record: the owning user, or every
member of the owning team. (Whether each of them may see the messages is a separate question: the receive
privilege, checked by the caller where it matters.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textdesk.domain.visibility import Ownership


def owners(owned: Ownership | None, team_members: Mapping[int, Iterable[int]]) -> set[int]:
    """The users behind one owner: the owning user, or the members of the owning team."""
    if owned is None:
        return set()
    if owned.owner_user_id:
        return {owned.owner_user_id}
    if owned.owner_team_id:
        return set(team_members.get(owned.owner_team_id, ()))
    return set()


def audience(number: Ownership | None, record: Ownership | None, team_members: Mapping[int, Iterable[int]]) -> set[int]:
    """Users who hear about a conversation through this sender number and this record (either may be None)."""
    return owners(number, team_members) | owners(record, team_members)


def teams_of(*owned: Ownership | None) -> set[int]:
    """The teams whose members :func:`audience` needs to know."""
    return {o.owner_team_id for o in owned if o is not None and not o.owner_user_id and o.owner_team_id}
