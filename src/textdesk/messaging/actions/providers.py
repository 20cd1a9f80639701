"""Creating and changing provider accounts and sender numbers.

Provider accounts need ``org.manage_sms_providers`` (System Administrators). Sender numbers need
``org.manage_phone_numbers``; a Sales Manager changes only numbers owned by their teams or team
members and gives numbers only to those (see :mod:`textdesk.domain.access`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from textdesk.domain import phones
from textdesk.messaging.models import ProviderAccount, ProviderKind, SenderNumber
from textdesk.org.access import actor_for, require_owner_in_reach, require_perm


def credential_fields(kind: str) -> tuple | None:
    """The adapter's credential fields for ``kind``, or None when no adapter is installed for it."""
    from textdesk.providers.registry import get_provider

    try:
        return tuple(get_provider(kind).credential_fields)
    except (ImportError, AttributeError, ValueError):
        return None


def check_credentials(kind: str, credentials: dict[str, Any], *, complete: bool) -> dict[str, str]:
    """Keep only text values; with a known adapter, refuse unknown names and (``complete``) missing ones."""
    bad = [k for k, v in credentials.items() if not isinstance(v, str)]
    if bad:
        raise ValidationError(
            {"credentials": _("Credential values are text: %(names)s.") % {"names": ", ".join(sorted(bad))}}
        )
    fields = credential_fields(kind)
    if fields is None:
        return dict(credentials)
    known = {f.name for f in fields}
    unknown = sorted(set(credentials) - known)
    if unknown:
        raise ValidationError(
            {
                "credentials": _("Unknown credential %(names)s for this provider; expected: %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(sorted(known))}
            }
        )
    if complete:
        missing = [f.name for f in fields if f.required and not credentials.get(f.name)]
        if missing:
            raise ValidationError({"credentials": _("Missing credential %(names)s.") % {"names": ", ".join(missing)}})
    return dict(credentials)


def _apply_provider(account: ProviderAccount, data: dict[str, Any], creating: bool) -> ProviderAccount:
    previous_kind = account.kind
    for name in ("kind", "name", "description", "options", "is_active"):
        if name in data and data[name] is not None:
            setattr(account, name, data[name])
    if account.kind not in ProviderKind.values:
        raise ValidationError(
            {
                "kind": _("Unknown provider %(kind)s; choose one of: %(kinds)s.")
                % {"kind": account.kind, "kinds": ", ".join(ProviderKind.values)}
            }
        )
    if "credentials" in data and data["credentials"] is not None:
        # Keys given replace the stored ones; the others are kept (rotate one secret at a time).
        # Another provider's credentials mean nothing to the new one: start afresh when the kind changes.
        merged = {} if creating or account.kind != previous_kind else account.credentials
        merged.update(data["credentials"])
        account.credentials = check_credentials(account.kind, merged, complete=True)
    elif creating or account.kind != previous_kind:
        check_credentials(account.kind, {}, complete=True)
    account.full_clean()
    account.save()
    return account


@transaction.atomic
def create_provider_account(data: dict[str, Any], *, actor=None) -> ProviderAccount:
    if actor is not None:
        require_perm(actor, "org.manage_sms_providers")
    return _apply_provider(ProviderAccount(), data, creating=True)


@transaction.atomic
def update_provider_account(account: ProviderAccount, data: dict[str, Any], *, actor=None) -> ProviderAccount:
    if actor is not None:
        require_perm(actor, "org.manage_sms_providers")
    account = ProviderAccount.objects.select_for_update().get(pk=account.pk)
    return _apply_provider(account, data, creating=False)


def _number_owner(number: SenderNumber, data: dict[str, Any], creating: bool) -> tuple[int | None, int | None]:
    user_id, team_id = data.get("owner_user_id"), data.get("owner_team_id")
    if user_id is not None and team_id is not None:
        raise ValidationError(
            {"owner": _("Give owner_user_id or owner_team_id, not both: a number has exactly one owner.")}
        )
    if user_id is not None or team_id is not None:
        return user_id, team_id
    if creating or "owner_user_id" in data or "owner_team_id" in data:
        raise ValidationError({"owner": _("A number needs an owner: give owner_user_id or owner_team_id.")})
    return number.owner_user_id, number.owner_team_id


def _apply_number(number: SenderNumber, data: dict[str, Any], creating: bool, actor) -> SenderNumber:
    reach = None
    if actor is not None:
        require_perm(actor, "org.manage_phone_numbers")
        reach = actor_for(actor)
        if not creating:
            require_owner_in_reach(actor, number.owner_user_id, number.owner_team_id, reach)
    owner = _number_owner(number, data, creating)
    if actor is not None:
        require_owner_in_reach(actor, *owner, reach)
    if "e164" in data:
        value = (data["e164"] or "").strip()
        if not phones.is_e164(value):
            raise ValidationError(
                {
                    "e164": _(
                        "%(value)s is not a valid number in E.164 form (+ country code and number, "
                        "no spaces, e.g. +5511912345678)."
                    )
                    % {"value": value}
                }
            )
        number.e164 = value
    for name in ("name", "number_type", "provider_account_id", "rate_per_second", "is_active"):
        if name in data and (data[name] is not None or name == "rate_per_second"):
            setattr(number, name, data[name])
    number.owner_user_id, number.owner_team_id = owner
    number.full_clean()
    number.save()
    return number


@transaction.atomic
def create_sender_number(data: dict[str, Any], *, actor=None) -> SenderNumber:
    return _apply_number(SenderNumber(), data, creating=True, actor=actor)


@transaction.atomic
def update_sender_number(number: SenderNumber, data: dict[str, Any], *, actor=None) -> SenderNumber:
    number = SenderNumber.objects.select_for_update().get(pk=number.pk)
    return _apply_number(number, data, creating=False, actor=actor)
