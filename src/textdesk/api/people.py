"""Users and teams over the API: ``/users``, ``/teams``.

Every member of the organisation may list and read users and teams (a seller needs them to pick a
record's owner); only System Administrators (``org.add_user``/``org.change_user``,
``org.add_team``/``org.change_team``) create and change them. Passwords are write-only. A user
given the System Administrator role gets into the admin site (``is_staff``); taking the role away
takes that away too (superusers keep it).
"""

import datetime as dt

from django.db.models import Q
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from textdesk.api.common import ERRORS, READ_ERRORS, DbId, OptionalDbId, PageQuery, get_or_404, page_schema, paginate
from textdesk.org.actions.people import ROLES, create_team, create_user, role_of, update_team, update_user
from textdesk.org.models import Team, User

ROLE_HELP = "one of: " + ", ".join(ROLES)


class UserIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    username: str | None = Field(None, max_length=150)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    password: str | None = Field(None, description="write-only; without one the user cannot sign in to the web app")
    role: str | None = Field(None, description=ROLE_HELP)
    team_ids: list[DbId] | None = Field(None, description="replaces the user's teams")
    language: str | None = None
    external_id: str | None = Field(None, max_length=100)
    is_active: bool | None = None


class UserCreate(UserIn):
    username: str = Field(..., min_length=1, max_length=150)


class UserOut(Schema):
    id: int
    username: str
    first_name: str
    last_name: str
    email: str
    role: str | None
    team_ids: list[int]
    language: str
    external_id: str | None
    is_active: bool
    is_staff: bool
    date_joined: dt.datetime

    @staticmethod
    def resolve_role(obj) -> str | None:
        return role_of(obj)

    @staticmethod
    def resolve_team_ids(obj) -> list[int]:
        return sorted(t.pk for t in obj.teams.all())


class TeamIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    name: str | None = Field(None, max_length=150)
    external_id: str | None = Field(None, max_length=100)
    member_ids: list[DbId] | None = Field(None, description="replaces the members")


class TeamCreate(TeamIn):
    name: str = Field(..., min_length=1, max_length=150)


class TeamOut(Schema):
    id: int
    name: str
    external_id: str | None
    member_ids: list[int]
    created_at: dt.datetime

    @staticmethod
    def resolve_member_ids(obj) -> list[int]:
        return sorted(u.pk for u in obj.members.all())


class UserFilters(Schema):
    q: str | None = Field(None, description="part of the username, name or email")
    team_id: OptionalDbId = None
    is_active: bool | None = None


users = Router(tags=["Users"])
teams = Router(tags=["Teams"])


def _users():
    return User.objects.prefetch_related("groups", "teams").order_by("pk")


@users.get("", response={200: page_schema(UserOut), **READ_ERRORS}, summary="List users")
def list_users(request, filters: Query[UserFilters], pagination: Query[PageQuery]):
    qs = _users()
    if filters.q:
        for word in filters.q.split():
            qs = qs.filter(
                Q(username__icontains=word)
                | Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(email__icontains=word)
            )
    if filters.team_id is not None:
        qs = qs.filter(teams__id=filters.team_id)
    if filters.is_active is not None:
        qs = qs.filter(is_active=filters.is_active)
    return paginate(qs, pagination)


@users.post("", response={201: UserOut, **ERRORS}, summary="Create a user (administrators)")
def create(request, payload: UserCreate):
    return Status(201, create_user(payload.dict(exclude_unset=True), actor=request.auth))


@users.get("/{user_id}", response={200: UserOut, **READ_ERRORS}, summary="Read a user")
def read(request, user_id: DbId):
    return get_or_404(_users(), pk=user_id)


@users.patch("/{user_id}", response={200: UserOut, **ERRORS}, summary="Change a user (administrators)")
def change(request, user_id: DbId, payload: UserIn):
    user = get_or_404(User, pk=user_id)
    return update_user(user, payload.dict(exclude_unset=True), actor=request.auth)


def _teams():
    return Team.objects.prefetch_related("members").order_by("pk")


@teams.get("", response={200: page_schema(TeamOut), **READ_ERRORS}, summary="List teams")
def list_teams(request, pagination: Query[PageQuery], q: str | None = None):
    qs = _teams()
    if q:
        qs = qs.filter(name__icontains=q)
    return paginate(qs, pagination)


@teams.post("", response={201: TeamOut, **ERRORS}, summary="Create a team (administrators)")
def create_a_team(request, payload: TeamCreate):
    return Status(201, create_team(payload.dict(exclude_unset=True), actor=request.auth))


@teams.get("/{team_id}", response={200: TeamOut, **READ_ERRORS}, summary="Read a team")
def read_team(request, team_id: DbId):
    return get_or_404(_teams(), pk=team_id)


@teams.patch("/{team_id}", response={200: TeamOut, **ERRORS}, summary="Change a team (administrators)")
def change_team(request, team_id: DbId, payload: TeamIn):
    team = get_or_404(Team, pk=team_id)
    return update_team(team, payload.dict(exclude_unset=True), actor=request.auth)
