"""SMS provider accounts over the API: ``/provider-accounts`` (``org.manage_sms_providers`` only).

Credentials are write-only: they are encrypted at rest and never returned; a response names the
credential fields that are set. On change, the credential values given replace the stored ones and
the others are kept. Each account's ``inbound_url`` and ``status_url`` are what to configure at the
provider.
"""

import datetime as dt
from typing import Any

from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from textdesk.api.common import ERRORS, READ_ERRORS, DbId, PageQuery, get_or_404, page_schema, paginate
from textdesk.messaging.actions.providers import create_provider_account, update_provider_account
from textdesk.messaging.models import ProviderAccount, ProviderKind
from textdesk.org.access import require_perm

PERM = "org.manage_sms_providers"


class ProviderAccountIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    kind: str | None = Field(None, description="one of: " + ", ".join(ProviderKind.values))
    name: str | None = Field(None, max_length=100)
    description: str | None = None
    options: dict[str, Any] | None = Field(None, description="settings that are not secret, e.g. base_url")
    credentials: dict[str, str] | None = Field(None, description="write-only; never returned")
    is_active: bool | None = None


class ProviderAccountCreate(ProviderAccountIn):
    kind: str
    name: str = Field(..., min_length=1, max_length=100)


class ProviderAccountOut(Schema):
    id: int
    kind: str
    name: str
    description: str
    options: dict[str, Any]
    is_active: bool
    inbound_url: str = Field(description="where the provider sends inbound messages")
    status_url: str = Field(description="where the provider sends delivery reports")
    credentials_set: list[str] = Field(description="names of the credentials stored (values are never shown)")
    created_at: dt.datetime

    @staticmethod
    def resolve_credentials_set(obj) -> list[str]:
        return sorted(k for k, v in obj.credentials.items() if v)


router = Router(tags=["Provider accounts"])


@router.get("", response={200: page_schema(ProviderAccountOut), **READ_ERRORS}, summary="List provider accounts")
def list_accounts(request, pagination: Query[PageQuery], kind: str | None = None):
    require_perm(request.auth, PERM)
    qs = ProviderAccount.objects.order_by("pk")
    if kind:
        qs = qs.filter(kind=kind)
    return paginate(qs, pagination)


@router.post("", response={201: ProviderAccountOut, **ERRORS}, summary="Add a provider account")
def create(request, payload: ProviderAccountCreate):
    return Status(201, create_provider_account(payload.dict(exclude_unset=True), actor=request.auth))


@router.get("/{account_id}", response={200: ProviderAccountOut, **READ_ERRORS}, summary="Read a provider account")
def read(request, account_id: DbId):
    require_perm(request.auth, PERM)
    return get_or_404(ProviderAccount, pk=account_id)


@router.patch("/{account_id}", response={200: ProviderAccountOut, **ERRORS}, summary="Change a provider account")
def change(request, account_id: DbId, payload: ProviderAccountIn):
    require_perm(request.auth, PERM)
    account = get_or_404(ProviderAccount, pk=account_id)
    return update_provider_account(account, payload.dict(exclude_unset=True), actor=request.auth)
