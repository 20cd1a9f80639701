"""Creating and changing users and teams (System Administrators only when an actor is given)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from textdesk.org import roles
from textdesk.org.access import require_perm
from textdesk.org.models import Team, User

ROLES = (roles.SALESPERSON, roles.SALES_MANAGER, roles.SYSTEM_ADMINISTRATOR)
USER_FIELDS = ("username", "first_name", "last_name", "email", "language", "external_id", "is_active")


def role_of(user: User) -> str | None:
    """The user's role: the highest of the three role groups the user belongs to, or None."""
    names = {g.name for g in user.groups.all()}
    for role in reversed(ROLES):
        if role in names:
            return role
    return None


def sync_staff_flag(user: User) -> None:
    """System Administrators get into the admin site; nobody else does unless a superuser."""
    is_admin = user.groups.filter(name=roles.SYSTEM_ADMINISTRATOR).exists()
    staff = user.is_superuser or is_admin
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


def _set_role(user: User, role: str) -> None:
    if role not in ROLES:
        raise ValidationError(
            {"role": _("Unknown role %(role)s; choose one of: %(roles)s.") % {"role": role, "roles": ", ".join(ROLES)}}
        )
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))


def _set_teams(user: User, team_ids: list[int]) -> None:
    teams = list(Team.objects.filter(pk__in=set(team_ids)))
    missing = sorted(set(team_ids) - {t.pk for t in teams})
    if missing:
        raise ValidationError({"team_ids": _("No team with id %(ids)s.") % {"ids": ", ".join(map(str, missing))}})
    user.teams.set(teams)


def _apply_user(user: User, data: dict[str, Any], creating: bool) -> User:
    for name in USER_FIELDS:
        if name in data:
            value = data[name]
            if name == "external_id":
                value = (value or "").strip() or None
            elif value is None and name != "is_active":
                value = ""
            setattr(user, name, value)
    password = data.get("password")
    if password:
        password_validation.validate_password(password, user)
        user.set_password(password)
    elif creating:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    if "role" in data or creating:
        _set_role(user, data.get("role") or roles.SALESPERSON)
    if data.get("team_ids") is not None:
        _set_teams(user, data["team_ids"])
    sync_staff_flag(user)
    return user


@transaction.atomic
def create_user(data: dict[str, Any], *, actor=None) -> User:
    """``data``: username (required), names, email, password (optional: none means no web login),
    role (default Salesperson), team_ids, language, external_id, is_active."""
    if actor is not None:
        require_perm(actor, "org.add_user")
    return _apply_user(User(), data, creating=True)


@transaction.atomic
def update_user(user: User, data: dict[str, Any], *, actor=None) -> User:
    if actor is not None:
        require_perm(actor, "org.change_user")
        if user.is_superuser and not actor.is_superuser:
            raise PermissionDenied(_("Only a superuser may change a superuser."))
    user = User.objects.select_for_update().get(pk=user.pk)
    return _apply_user(user, data, creating=False)


def _apply_team(team: Team, data: dict[str, Any]) -> Team:
    if "name" in data:
        team.name = (data["name"] or "").strip()
    if "external_id" in data:
        team.external_id = (data["external_id"] or "").strip() or None
    team.full_clean()
    team.save()
    if data.get("member_ids") is not None:
        ids = set(data["member_ids"])
        members = list(User.objects.filter(pk__in=ids))
        missing = sorted(ids - {u.pk for u in members})
        if missing:
            raise ValidationError({"member_ids": _("No user with id %(ids)s.") % {"ids": ", ".join(map(str, missing))}})
        team.members.set(members)
    return team


@transaction.atomic
def create_team(data: dict[str, Any], *, actor=None) -> Team:
    if actor is not None:
        require_perm(actor, "org.add_team")
    return _apply_team(Team(), data)


@transaction.atomic
def update_team(team: Team, data: dict[str, Any], *, actor=None) -> Team:
    if actor is not None:
        require_perm(actor, "org.change_team")
    team = Team.objects.select_for_update().get(pk=team.pk)
    return _apply_team(team, data)
