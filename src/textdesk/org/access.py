"""The change rights of a user as plain data (see :mod:`textdesk.domain.access` for the rule)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from textdesk.domain.access import Actor, Owner, Reach, may_own


def reach_of(user) -> Reach:
    """``all`` for administrators, ``team`` for managers, ``own`` for everyone else.

    Decided by the same named permissions that widen conversation visibility, so a custom role
    built in the admin gets a consistent reach over records and conversations.
    """
    if user.is_superuser or user.has_perm("org.view_all_conversations"):
        return "all"
    if user.has_perm("org.view_team_conversations"):
        return "team"
    return "own"


def actor_for(user) -> Actor:
    from textdesk.org.models import Team

    reach = reach_of(user)
    team_ids = frozenset(user.team_ids())
    teammates: frozenset[int] = frozenset()
    if reach == "team":
        teammates = frozenset(
            Team.members.through.objects.filter(team_id__in=team_ids).values_list("user_id", flat=True)
        ) | {user.pk}
    return Actor(user_id=user.pk, team_ids=team_ids, reach=reach, teammate_ids=teammates)


def require_perm(user, perm: str) -> None:
    """Raise PermissionDenied unless ``user`` holds ``perm`` (e.g. ``"crm.add_contact"``)."""
    if not user.has_perm(perm):
        raise PermissionDenied(_("Your role does not allow this (missing permission %(perm)s).") % {"perm": perm})


def require_owner_in_reach(
    user, owner_user_id: int | None, owner_team_id: int | None, actor: Actor | None = None
) -> None:
    actor = actor or actor_for(user)
    if not may_own(actor, Owner(user_id=owner_user_id, team_id=owner_team_id)):
        raise PermissionDenied(
            _("You may only change what you or your teams own (managers: also what their team members own).")
        )
