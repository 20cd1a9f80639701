"""Who may change what: the ownership reach of a user, over plain data.

Reading is wide (every member of the organisation reads every CRM record, so a seller can look up
a customer before texting them); changing is narrow and follows ownership:

- reach ``own`` (Salesperson): records owned by the user or by one of the user's teams;
- reach ``team`` (Sales Manager): also records owned by any member of the manager's teams;
- reach ``all`` (System Administrator): everything.

The same reach applies to the owner a record is given: nobody hands a record (or a number) to an
owner outside their reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reach = Literal["own", "team", "all"]


@dataclass(frozen=True)
class Actor:
    user_id: int
    team_ids: frozenset[int]
    reach: Reach
    # For reach "team": every user who shares a team with the actor (the actor included).
    teammate_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Owner:
    user_id: int | None = None
    team_id: int | None = None


def may_own(actor: Actor, owner: Owner) -> bool:
    """True when ``actor`` may change something owned by ``owner`` (or give something to ``owner``)."""
    if actor.reach == "all":
        return True
    if owner.team_id is not None and owner.team_id in actor.team_ids:
        return True
    if owner.user_id is None:
        return False
    if owner.user_id == actor.user_id:
        return True
    return actor.reach == "team" and owner.user_id in actor.teammate_ids
