"""Who may see a conversation (the seed's rule, plus the manager and administrator scopes).

A seller sees a conversation when the sender number *or* the record is owned by
them or by a team they belong to. A manager (``view_team_conversations``) also
sees those owned by the other members of their teams. An administrator
(``view_all_conversations``) sees all.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Viewer:
    user_id: int
    team_ids: frozenset[int] = field(default_factory=frozenset)
    # For managers: the users who share a team with them.
    teammate_ids: frozenset[int] = field(default_factory=frozenset)
    sees_team: bool = False
    sees_all: bool = False


@dataclass(frozen=True)
class Ownership:
    owner_user_id: int | None
    owner_team_id: int | None


def owns(viewer: Viewer, owner: Ownership) -> bool:
    if owner.owner_user_id is not None:
        if owner.owner_user_id == viewer.user_id:
            return True
        if viewer.sees_team and owner.owner_user_id in viewer.teammate_ids:
            return True
    return owner.owner_team_id is not None and owner.owner_team_id in viewer.team_ids
