"""Creating, changing and upserting CRM records; the one place that writes them.

``data`` maps field names to values as an API client or an import file gives them: plain fields,
foreign keys as ``<name>_id`` and, for opportunities, ``contact_ids``. Only the keys present are
applied, so the same functions serve full creates, partial updates and upserts.

With ``actor`` (a user) the caller's role is checked (see :mod:`textdesk.domain.access`); without
one (the import command, run by an operator on the server) only the data is checked.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from textdesk.crm.models import Account, Contact, Lead, Opportunity, OwnedRecord
from textdesk.org.access import actor_for, require_owner_in_reach, require_perm

_COMMON = ("external_id", "country", "status_reason", "owner_user_id", "owner_team_id")
_PHONES = ("business_phone", "mobile_phone")

WRITABLE_FIELDS: dict[type[OwnedRecord], tuple[str, ...]] = {
    Account: _COMMON + _PHONES + ("name", "email", "website", "city"),
    Contact: _COMMON + _PHONES + ("first_name", "last_name", "email", "job_title", "account_id"),
    Lead: _COMMON + _PHONES + ("first_name", "last_name", "topic", "company_name", "email", "source"),
    Opportunity: _COMMON
    + ("name", "account_id", "customer_contact_id", "contact_ids", "estimated_value", "estimated_close_date"),
}


def _owner_after(record: OwnedRecord, data: dict[str, Any], creating: bool) -> tuple[int | None, int | None]:
    """The (user id, team id) owning the record once ``data`` is applied; exactly one is set."""
    user_id, team_id = data.get("owner_user_id"), data.get("owner_team_id")
    if user_id is not None and team_id is not None:
        raise ValidationError(
            {"owner": _("Give owner_user_id or owner_team_id, not both: a record has exactly one owner.")}
        )
    if user_id is not None:
        return user_id, None
    if team_id is not None:
        return None, team_id
    if creating or "owner_user_id" in data or "owner_team_id" in data:
        raise ValidationError({"owner": _("A record needs an owner: give owner_user_id or owner_team_id.")})
    return record.owner_user_id, record.owner_team_id


def _clean_country(value: str | None) -> str:
    country = (value or "").strip().upper()
    if country and country not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            {"country": _("%(code)s is not a country code (use two letters, e.g. BR).") % {"code": country}}
        )
    return country


def _apply(record: OwnedRecord, data: dict[str, Any], *, creating: bool, actor) -> OwnedRecord:
    model = type(record)
    unknown = set(data) - set(WRITABLE_FIELDS[model])
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in sorted(unknown)})
    reach = None
    if actor is not None:
        # Refuse what the caller may not touch before saying anything about the data.
        require_perm(actor, f"crm.{'add' if creating else 'change'}_{model._meta.model_name}")
        reach = actor_for(actor)
        if not creating:
            require_owner_in_reach(actor, record.owner_user_id, record.owner_team_id, reach)
    owner_user_id, owner_team_id = _owner_after(record, data, creating)
    if actor is not None:
        require_owner_in_reach(actor, owner_user_id, owner_team_id, reach)

    contact_ids = data.get("contact_ids")
    for name, value in data.items():
        if name in ("owner_user_id", "owner_team_id", "contact_ids"):
            continue
        if name == "country":
            value = _clean_country(value)
        elif name == "external_id":
            value = (value or "").strip() or None
        elif value is None and name not in (
            "account_id",
            "customer_contact_id",
            "estimated_value",
            "estimated_close_date",
        ):
            value = ""
        setattr(record, name, value)
    record.owner_user_id, record.owner_team_id = owner_user_id, owner_team_id
    # The check constraints are tested here in Python (one owner above, one customer below): letting
    # full_clean test them costs a query each, which dominates a large import.
    record.full_clean(validate_constraints=False)
    if isinstance(record, Opportunity) and record.account_id and record.customer_contact_id:
        raise ValidationError(_("An opportunity's customer is an account or a contact, not both."))
    if contact_ids is not None:
        contact_ids = sorted(set(contact_ids))
        found = set(Contact.objects.filter(pk__in=contact_ids).values_list("pk", flat=True))
        missing = [pk for pk in contact_ids if pk not in found]
        if missing:
            raise ValidationError(
                {"contact_ids": _("No contact with id %(ids)s.") % {"ids": ", ".join(map(str, missing))}}
            )
    record.save()
    if contact_ids is not None and isinstance(record, Opportunity):  # the only type with related contacts
        record.contacts.set(contact_ids)
    return record


@transaction.atomic
def create_record(model: type[OwnedRecord], data: dict[str, Any], *, actor=None) -> OwnedRecord:
    return _apply(model(), data, creating=True, actor=actor)


@transaction.atomic
def update_record(record: OwnedRecord, data: dict[str, Any], *, actor=None) -> OwnedRecord:
    record = type(record).objects.select_for_update().get(pk=record.pk)
    return _apply(record, data, creating=False, actor=actor)


def upsert_record(
    model: type[OwnedRecord], external_id: str, data: dict[str, Any], *, actor=None
) -> tuple[OwnedRecord, bool]:
    """Create the record with this external id, or apply ``data`` to the one that exists.

    Idempotent: the same call twice leaves the same record. Returns ``(record, created)``. When two
    callers create the same external id at once, the loser of the insert race applies its data as
    an update instead of failing.
    """
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationError({"external_id": _("The external id cannot be empty.")})
    data = {**data, "external_id": external_id}
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                existing = model.objects.select_for_update().filter(external_id=external_id).first()
                if existing is not None:
                    return _apply(existing, data, creating=False, actor=actor), False
                return _apply(model(), data, creating=True, actor=actor), True
        except (IntegrityError, ValidationError) as exc:
            # Lost the race: another caller created this external id after we looked (the database's
            # unique index or the uniqueness check says so). Once more, as an update.
            lost_race = isinstance(exc, IntegrityError) or "external_id" in getattr(exc, "error_dict", {})
            if attempt == 2 or not lost_race or not model.objects.filter(external_id=external_id).exists():
                raise
    raise AssertionError("unreachable")
