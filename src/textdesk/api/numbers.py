"""Sender numbers over the API: ``/sender-numbers``.

Holders of ``org.manage_phone_numbers`` (Sales Managers, System Administrators) list every number;
everyone else lists the numbers they or their teams own (the ones they may send from). Creating
and changing needs ``org.manage_phone_numbers``, and a manager only acts on numbers owned by their
teams or team members (administrators on all). Numbers are written in E.164.
"""

import datetime as dt

from django.db.models import Q
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from textdesk.api.common import ERRORS, READ_ERRORS, DbId, OptionalDbId, PageQuery, get_or_404, page_schema, paginate
from textdesk.messaging.actions.providers import create_sender_number, update_sender_number
from textdesk.messaging.models import NumberType, SenderNumber

OWNER_HELP = "exactly one of owner_user_id and owner_team_id"


class SenderNumberIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    e164: str | None = Field(None, description="E.164, e.g. +5511912345678")
    name: str | None = Field(None, max_length=100)
    number_type: str | None = Field(None, description="one of: " + ", ".join(NumberType.values))
    provider_account_id: OptionalDbId = None
    owner_user_id: OptionalDbId = Field(None, description=OWNER_HELP)
    owner_team_id: OptionalDbId = Field(None, description=OWNER_HELP)
    rate_per_second: float | None = Field(None, gt=0, description="empty: the organisation's default for the type")
    is_active: bool | None = None


class SenderNumberCreate(SenderNumberIn):
    e164: str = Field(..., description="E.164, e.g. +5511912345678")
    name: str = Field(..., min_length=1, max_length=100)
    provider_account_id: int


class SenderNumberOut(Schema):
    id: int
    e164: str
    name: str
    number_type: str
    provider_account_id: int
    owner_user_id: int | None
    owner_team_id: int | None
    rate_per_second: float | None
    is_active: bool
    created_at: dt.datetime


router = Router(tags=["Sender numbers"])


def visible_numbers(user):
    """Every number for number managers; otherwise the user's and their teams' numbers."""
    qs = SenderNumber.objects.order_by("pk")
    if user.has_perm("org.manage_phone_numbers"):
        return qs
    return qs.filter(Q(owner_user=user) | Q(owner_team__in=user.team_ids()))


@router.get("", response={200: page_schema(SenderNumberOut), **READ_ERRORS}, summary="List sender numbers")
def list_numbers(request, pagination: Query[PageQuery], q: str | None = None, provider_account_id: OptionalDbId = None):
    qs = visible_numbers(request.auth)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(e164__contains=q.strip()))
    if provider_account_id is not None:
        qs = qs.filter(provider_account_id=provider_account_id)
    return paginate(qs, pagination)


@router.post("", response={201: SenderNumberOut, **ERRORS}, summary="Add a sender number")
def create(request, payload: SenderNumberCreate):
    return Status(201, create_sender_number(payload.dict(exclude_unset=True), actor=request.auth))


@router.get("/{number_id}", response={200: SenderNumberOut, **READ_ERRORS}, summary="Read a sender number")
def read(request, number_id: DbId):
    return get_or_404(visible_numbers(request.auth), pk=number_id)


@router.patch("/{number_id}", response={200: SenderNumberOut, **ERRORS}, summary="Change a sender number")
def change(request, number_id: DbId, payload: SenderNumberIn):
    number = get_or_404(visible_numbers(request.auth), pk=number_id)
    return update_sender_number(number, payload.dict(exclude_unset=True), actor=request.auth)
