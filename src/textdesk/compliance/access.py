"""Who may see and change what in compliance (roles give the permissions; see ``org.roles``)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from textdesk.compliance.models import OptOutFlag

VIEW_AUDIT = "compliance.view_auditevent"
PERSON_DATA = "compliance.manage_person_data"
VIEW_ALL_CONSENTS = "compliance.view_consentrecord"
DASHBOARD = "compliance.view_dashboard"


def require_audit(user) -> None:
    if not user.has_perm(VIEW_AUDIT):
        raise PermissionDenied(_("Only administrators may read the audit trail."))


def require_person_data(user) -> None:
    if not user.has_perm(PERSON_DATA):
        raise PermissionDenied(_("Only administrators may export or erase a person's data."))


def may_see_number(user, number: str) -> bool:
    """Administrators see every number; others the numbers of their conversations and of CRM records."""
    from textdesk.crm.models import PHONE_FIELDS, RECORD_MODELS
    from textdesk.messaging.visibility import visible_conversations

    if user.has_perm(VIEW_ALL_CONSENTS):
        return True
    if visible_conversations(user).filter(customer_e164=number).exists():
        return True
    for record_type, model in RECORD_MODELS.items():
        if not user.has_perm(f"crm.view_{record_type}"):
            continue
        for field in PHONE_FIELDS:
            if hasattr(model, field) and model.objects.filter(**{f"{field}_e164": number}).exists():
                return True
    return False


def require_number(user, number: str, change: bool = False) -> None:
    if change and not (user.has_perm("org.send_messages") or user.has_perm("compliance.add_consentrecord")):
        raise PermissionDenied(_("Your role does not allow recording consent."))
    if not may_see_number(user, (number or "").strip()):
        raise PermissionDenied(_("You cannot see this customer number."))


def visible_flags(user):
    from textdesk.messaging.visibility import visible_conversations

    return OptOutFlag.objects.filter(conversation__in=visible_conversations(user))
