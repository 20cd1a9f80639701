"""CRM records over the API: ``/accounts``, ``/contacts``, ``/leads``, ``/opportunities``.

Who may do what (the rule lives in :mod:`textdesk.domain.access`):

- read and list: anyone whose role can view the record type (all three roles) reads every record
  of the organisation;
- create and change: Salespeople for records they or one of their teams own, Sales Managers also
  for records of their team members, System Administrators for everything; a record is only given
  to an owner inside the caller's reach.

Each record type has create (``POST``), read (``GET /{id}``), partial update (``PATCH /{id}``),
list with ``q``/``phone``/owner filters, and an idempotent upsert by the id it has in another
system: ``PUT /by-external-id/{external_id}`` (201 when created, 200 when updated; fields left out
keep their value). Phone fields are written as text and read back as ``{raw, e164, is_valid}``; a
number without country code is read in the record's ``country`` (or the organisation's default
region).
"""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from textdesk.api import listing
from textdesk.api.common import (
    ERRORS,
    READ_ERRORS,
    DbId,
    OptionalDbId,
    PhoneOut,
    get_or_404,
    phone_out,
)
from textdesk.api.listing import CursorQuery, cursor_page_schema
from textdesk.crm.actions.records import create_record, update_record, upsert_record
from textdesk.crm.models import Account, Contact, Lead, Opportunity, OwnedRecord
from textdesk.domain import phones
from textdesk.domain import search as search_rules
from textdesk.messaging import keyset, search
from textdesk.org.access import require_perm

OWNER_HELP = "exactly one of owner_user_id and owner_team_id"
BY_ID = keyset.Order("id", descending=False)


# ------------------------------------------------------------------ schemas


class RecordIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    external_id: str | None = Field(None, max_length=100, description="the record's id in another system")
    owner_user_id: OptionalDbId = Field(None, description=OWNER_HELP)
    owner_team_id: OptionalDbId = Field(None, description=OWNER_HELP)
    country: str | None = Field(None, description="ISO code (e.g. BR) for phone numbers written without one")
    status_reason: str | None = None


class PhonesIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    business_phone: str | None = Field(None, max_length=40)
    mobile_phone: str | None = Field(None, max_length=40)


class RecordOut(Schema):
    id: int
    external_id: str | None
    owner_user_id: int | None
    owner_team_id: int | None
    is_active: bool
    status_reason: str
    country: str
    created_at: dt.datetime
    modified_at: dt.datetime


class PhonesOut(Schema):
    business_phone: PhoneOut
    mobile_phone: PhoneOut

    @staticmethod
    def resolve_business_phone(obj) -> dict:
        return phone_out(obj, "business_phone")

    @staticmethod
    def resolve_mobile_phone(obj) -> dict:
        return phone_out(obj, "mobile_phone")


class AccountIn(RecordIn, PhonesIn):
    name: str | None = Field(None, max_length=200)
    email: str | None = None
    website: str | None = None
    city: str | None = None


class AccountCreate(AccountIn):
    name: str = Field(..., min_length=1, max_length=200)


class AccountOut(RecordOut, PhonesOut):
    name: str
    email: str
    website: str
    city: str


class ContactIn(RecordIn, PhonesIn):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    job_title: str | None = None
    account_id: OptionalDbId = None


class ContactCreate(ContactIn):
    last_name: str = Field(..., min_length=1, max_length=100)


class ContactOut(RecordOut, PhonesOut):
    first_name: str
    last_name: str
    email: str
    job_title: str
    account_id: int | None


class LeadIn(RecordIn, PhonesIn):
    first_name: str | None = None
    last_name: str | None = None
    topic: str | None = None
    company_name: str | None = None
    email: str | None = None
    source: str | None = None


class LeadOut(RecordOut, PhonesOut):
    first_name: str
    last_name: str
    topic: str
    company_name: str
    email: str
    source: str


class OpportunityIn(RecordIn):
    name: str | None = Field(None, max_length=200)
    account_id: OptionalDbId = Field(None, description="customer: an account, or")
    customer_contact_id: OptionalDbId = Field(None, description="customer: a contact (not both)")
    contact_ids: list[DbId] | None = Field(None, description="related contacts (replaces the list)")
    estimated_value: Decimal | None = None
    estimated_close_date: dt.date | None = None


class OpportunityCreate(OpportunityIn):
    name: str = Field(..., min_length=1, max_length=200)


class OpportunityOut(RecordOut):
    name: str
    account_id: int | None
    customer_contact_id: int | None
    contact_ids: list[int]
    estimated_value: Decimal | None
    estimated_close_date: dt.date | None

    @staticmethod
    def resolve_contact_ids(obj) -> list[int]:
        return sorted(c.pk for c in obj.contacts.all())


class RecordFilters(Schema):
    q: str | None = Field(None, description="words found in the name")
    search: str | None = Field(None, description="part of the name (any case and accents), or digits of a phone")
    owner_user_id: OptionalDbId = None
    owner_team_id: OptionalDbId = None
    is_active: bool | None = None
    external_id: str | None = None


class PhoneRecordFilters(RecordFilters):
    phone: str | None = Field(None, description="a phone number (any format); matches business or mobile phone")


# ------------------------------------------------------------------ routes


def _name_filter(model: type[OwnedRecord], q: str) -> Q:
    fields = {
        Account: ("name", "city"),
        Contact: ("first_name", "last_name", "email"),
        Lead: ("first_name", "last_name", "company_name", "topic", "email"),
        Opportunity: ("name",),
    }[model]
    condition = Q()
    for word in q.split():
        any_field = Q()
        for field in fields:
            any_field |= Q(**{f"{field}__icontains": word})
        condition &= any_field
    return condition


def _phone_filter(phone: str) -> Q:
    e164 = phones.normalise(phone, settings.DEFAULT_REGION).e164
    if e164:
        return Q(business_phone_e164=e164) | Q(mobile_phone_e164=e164)
    # Not a readable number: look for it as typed, so invalid stored numbers can be found too.
    return Q(business_phone__icontains=phone.strip()) | Q(mobile_phone__icontains=phone.strip())


def record_search(model: type[OwnedRecord], text: str) -> Q:
    """The ``search`` filter: a fragment of the name, or (when it reads as one) digits of a phone number."""
    query = search_rules.parse(text)
    q = Q(pk__in=[])
    if query.words:
        q |= search.record_name_match(model, query.name_text)
    if query.digits and model is not Opportunity:
        q |= Q(business_phone_e164__contains=query.digits) | Q(mobile_phone_e164__contains=query.digits)
    return q


def _filtered(model: type[OwnedRecord], filters: RecordFilters) -> QuerySet:
    qs = model.objects.order_by("pk")
    if model is Opportunity:
        qs = qs.prefetch_related("contacts")
    if filters.q:
        qs = qs.filter(_name_filter(model, filters.q))
    phone = getattr(filters, "phone", None)  # not every record type is filtered by phone
    if phone:
        qs = qs.filter(_phone_filter(phone))
    if filters.search:
        qs = qs.filter(record_search(model, filters.search))
    for name in ("owner_user_id", "owner_team_id", "is_active", "external_id"):
        value = getattr(filters, name)
        if value is not None:
            qs = qs.filter(**{name: value})
    return qs


def record_router(
    model: type[OwnedRecord],
    create_in: type[Schema],
    patch_in: type[Schema],
    out: type[Schema],
    filter_schema: type[RecordFilters],
) -> Router:
    label = model._meta.model_name
    plural = str(model._meta.verbose_name_plural)
    router = Router(tags=[plural.capitalize()])
    page = cursor_page_schema(out)
    # The schemas are arguments, chosen per record type at run time: django-ninja reads them from the
    # annotations below, which the type checker cannot follow (hence the ignores).

    def queryset():
        return model.objects.prefetch_related("contacts") if model is Opportunity else model.objects.all()

    @router.get("", response={200: page, **READ_ERRORS}, summary=f"List {plural}", operation_id=f"list_{label}")
    def list_records(request, filters: Query[filter_schema], paging: Query[CursorQuery]):  # type: ignore[valid-type]
        require_perm(request.auth, f"crm.view_{label}")
        return listing.page(_filtered(model, filters), BY_ID, paging)

    @router.post("", response={201: out, **ERRORS}, summary=f"Create a {label}", operation_id=f"create_{label}")
    def create(request, payload: create_in):  # type: ignore[valid-type]
        extra = {"source": Lead.Source.API} if model is Lead and not payload.source else {}  # type: ignore[attr-defined]
        record = create_record(model, {**extra, **payload.dict(exclude_unset=True)}, actor=request.auth)  # type: ignore[attr-defined]
        return Status(201, record)

    @router.get(
        "/by-external-id/{external_id}",
        response={200: out, **READ_ERRORS},
        summary=f"Read a {label} by its external id",
        operation_id=f"read_{label}_by_external_id",
    )
    def read_by_external_id(request, external_id: str):
        require_perm(request.auth, f"crm.view_{label}")
        return get_or_404(queryset(), external_id=external_id)

    @router.put(
        "/by-external-id/{external_id}",
        response={200: out, 201: out, **ERRORS},
        summary=f"Create or update a {label} by its external id (idempotent)",
        operation_id=f"upsert_{label}",
    )
    def upsert(request, external_id: str, payload: patch_in):  # type: ignore[valid-type]
        data = payload.dict(exclude_unset=True)  # type: ignore[attr-defined]
        data.pop("external_id", None)
        if model is Lead and not model.objects.filter(external_id=external_id).exists():
            data.setdefault("source", Lead.Source.API)
        record, created = upsert_record(model, external_id, data, actor=request.auth)
        return Status(201 if created else 200, record)

    @router.get(
        "/{record_id}", response={200: out, **READ_ERRORS}, summary=f"Read a {label}", operation_id=f"read_{label}"
    )
    def read(request, record_id: DbId):
        require_perm(request.auth, f"crm.view_{label}")
        return get_or_404(queryset(), pk=record_id)

    @router.patch(
        "/{record_id}", response={200: out, **ERRORS}, summary=f"Change a {label}", operation_id=f"change_{label}"
    )
    def change(request, record_id: DbId, payload: patch_in):  # type: ignore[valid-type]
        require_perm(request.auth, f"crm.view_{label}")
        record = get_or_404(model, pk=record_id)
        return update_record(record, payload.dict(exclude_unset=True), actor=request.auth)  # type: ignore[attr-defined]

    return router


accounts = record_router(Account, AccountCreate, AccountIn, AccountOut, PhoneRecordFilters)
contacts = record_router(Contact, ContactCreate, ContactIn, ContactOut, PhoneRecordFilters)
leads = record_router(Lead, LeadIn, LeadIn, LeadOut, PhoneRecordFilters)
opportunities = record_router(Opportunity, OpportunityCreate, OpportunityIn, OpportunityOut, RecordFilters)
