"""Compliance over the REST API: audit events (administrators), the consent ledger, opt-out requests found
in free text, a person's export and erasure, the retention policy's dry run."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from pydantic import Field, field_validator

from textdesk.api.common import ERRORS, READ_ERRORS, PageQuery, page_schema, paginate
from textdesk.compliance import access
from textdesk.compliance.actions import intent, ledger, retention, subject
from textdesk.compliance.models import AuditEvent, ConsentRecord, FlagState, OptOutFlag

router = Router(tags=["compliance"])


class AuditEventOut(Schema):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor_name: str
    action: str
    target_type: str
    target_id: str
    details: dict


class AuditFilter(PageQuery):
    action: str | None = Field(None, description="sent, read, moved, exported, erased, consent_changed, ...")
    actor: str | None = Field(None, description="username")
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        """As UTC (the database refuses some offsets Python accepts); naive times are UTC."""
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        except (OverflowError, ValueError):
            raise ValueError("the time is out of range") from None


@router.get("/audit-events", response={200: page_schema(AuditEventOut), **READ_ERRORS})
def audit_events(request, filters: Query[AuditFilter]):
    """The audit trail, newest first. Administrators only."""
    access.require_audit(request.user)
    events = AuditEvent.objects.all()
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.actor:
        events = events.filter(actor_name=filters.actor)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    if filters.since:
        events = events.filter(at__gte=filters.since)
    if filters.until:
        events = events.filter(at__lt=filters.until)
    return paginate(events.order_by("-at", "-id"), filters)


class ConsentIn(Schema):
    customer: str = Field(description="the customer's number, E.164")
    purpose: str = Field(description="transactional or marketing")
    granted: bool
    method: str = Field("api", description="keyword, web_form, import, call, api, free_text, provider")
    wording: str = Field("", description="the words the customer was shown when giving or refusing consent")
    legal_basis: str = Field("consent", description="consent, contract, legitimate_interest, legal_obligation")
    note: str = ""


class ConsentOut(Schema):
    id: int
    customer: str
    purpose: str
    granted: bool
    at: dt.datetime
    method: str
    wording: str
    legal_basis: str
    recorded_by: str
    note: str


def consent_out(entry: ConsentRecord) -> dict:
    return {
        "id": entry.pk,
        "customer": entry.customer_e164,
        "purpose": entry.purpose,
        "granted": entry.granted,
        "at": entry.at,
        "method": entry.method,
        "wording": entry.wording,
        "legal_basis": entry.legal_basis,
        "recorded_by": entry.recorded_by.username if entry.recorded_by else "",
        "note": entry.note,
    }


class ConsentFilter(PageQuery):
    customer: str = Field(description="the customer's number, E.164")
    purpose: str | None = None


@router.get("/consents", response={200: page_schema(ConsentOut), **READ_ERRORS})
def consents(request, filters: Query[ConsentFilter]):
    """The consent ledger of one number, newest first (the first entry of a purpose is its current state)."""
    access.require_number(request.user, filters.customer)
    entries = ConsentRecord.objects.filter(customer_e164=filters.customer).select_related("recorded_by")
    if filters.purpose:
        entries = entries.filter(purpose=filters.purpose)
    page = paginate(entries.order_by("-at", "-id"), filters)
    page["items"] = [consent_out(e) for e in page["items"]]
    return page


@router.post("/consents", response={201: ConsentOut, **ERRORS})
def add_consent(request, payload: ConsentIn):
    """Record a consent given or revoked. Revoking transactional consent is an opt-out of every number."""
    access.require_number(request.user, payload.customer, change=True)
    try:
        entry = ledger.record(
            customer=payload.customer,
            purpose=payload.purpose,
            granted=payload.granted,
            method=payload.method,
            wording=payload.wording,
            legal_basis=payload.legal_basis,
            recorded_by=request.user,
            note=payload.note,
        )
    except ledger.InvalidConsent as invalid:
        raise HttpError(422, str(invalid)) from None
    return Status(201, consent_out(entry))


class FlagOut(Schema):
    id: int
    message_id: int
    conversation_id: int
    customer: str
    language: str
    words: str
    state: str
    created_at: dt.datetime


def flag_out(flag: OptOutFlag) -> dict:
    return {
        "id": flag.pk,
        "message_id": flag.message_id,
        "conversation_id": flag.conversation_id,
        "customer": flag.customer_e164,
        "language": flag.language,
        "words": flag.phrase,
        "state": flag.state,
        "created_at": flag.created_at,
    }


class FlagFilter(PageQuery):
    state: str = Field("open", description="open, recorded or dismissed")


@router.get("/optout-requests", response={200: page_schema(FlagOut), **READ_ERRORS})
def optout_requests(request, filters: Query[FlagFilter]):
    """Messages whose words ask to stop, in conversations the user can see."""
    flags = access.visible_flags(request.user).filter(state=filters.state).order_by("-created_at")
    page = paginate(flags, filters)
    page["items"] = [flag_out(f) for f in page["items"]]
    return page


def _flag(request, flag_id: int) -> OptOutFlag:
    flag = access.visible_flags(request.user).filter(pk=flag_id).first()
    if flag is None:
        raise HttpError(404, _("No such opt-out request."))
    if not request.user.has_perm("org.send_messages"):
        raise PermissionDenied(_("Your role does not allow this."))
    return flag


@router.post("/optout-requests/{flag_id}/record", response={200: FlagOut, **ERRORS})
def record_optout_request(request, flag_id: int):
    """Record the opt-out the customer asked for in their own words."""
    return flag_out(intent.record(_flag(request, flag_id), request.user))


@router.post("/optout-requests/{flag_id}/dismiss", response={200: FlagOut, **ERRORS})
def dismiss_optout_request(request, flag_id: int):
    """The words did not ask to stop: keep texting."""
    return flag_out(intent.dismiss(_flag(request, flag_id), request.user))


class PersonIn(Schema):
    number: str = Field(description="the person's phone number, E.164")


class ErasedOut(Schema):
    number_hash: str
    messages: int
    conversations: int
    records: int
    consents: int


@router.post("/persons/export", response={200: None, **ERRORS})
def export_person(request, payload: PersonIn):
    """Everything held about a number: a zip archive with person.json and one CSV per kind of data."""
    access.require_person_data(request.user)
    try:
        name, data = subject.export_archive(payload.number, user=request.user)
    except subject.InvalidNumber as invalid:
        raise HttpError(422, str(invalid)) from None
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@router.post("/persons/erase", response={200: ErasedOut, **ERRORS})
def erase_person(request, payload: PersonIn):
    """Erase a person's messages and personal data; their opt-out stays, as a hash of the number."""
    access.require_person_data(request.user)
    try:
        erased = subject.erase(payload.number, user=request.user)
    except subject.InvalidNumber as invalid:
        raise HttpError(422, str(invalid)) from None
    return erased.__dict__


class RetentionOut(Schema):
    messages: int
    action: str
    audit_events: int
    dry_run: bool


@router.get("/retention", response={200: RetentionOut, **READ_ERRORS})
def retention_dry_run(request):
    """What the retention policy would remove now (nothing is removed)."""
    access.require_person_data(request.user)
    return retention.apply(dry_run=True).as_dict()


__all__ = ["router", "FlagState"]
