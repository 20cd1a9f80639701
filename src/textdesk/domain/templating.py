"""Text message templates: ``{{Placeholder}}`` fields filled from a record, never executed as code.

A template's category (contact, account, lead, opportunity) decides which
placeholders it may use, including related records (a contact's account) and
the sending user. Each placeholder may carry a display name and a default
used when the field is empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class PlaceholderSpec:
    name: str
    label: str
    # How to read it from a context of plain values: {"contact": {...}, "account": {...}, "user": {...}, ...}
    path: tuple[str, str]


def _spec(name: str, label, entity: str, field: str) -> PlaceholderSpec:
    return PlaceholderSpec(name, str(label), (entity, field))


_USER = [
    _spec("UserFirstName", _("Your first name"), "user", "first_name"),
    _spec("UserLastName", _("Your last name"), "user", "last_name"),
    _spec("UserFullName", _("Your full name"), "user", "full_name"),
]
_ACCOUNT = [
    _spec("AccountName", _("Account name"), "account", "name"),
    _spec("AccountCity", _("Account city"), "account", "city"),
    _spec("AccountWebsite", _("Account website"), "account", "website"),
]
_CONTACT = [
    _spec("ContactFirstName", _("Contact first name"), "contact", "first_name"),
    _spec("ContactLastName", _("Contact last name"), "contact", "last_name"),
    _spec("ContactFullName", _("Contact full name"), "contact", "full_name"),
    _spec("ContactJobTitle", _("Contact job title"), "contact", "job_title"),
    _spec("ContactEmail", _("Contact email"), "contact", "email"),
]
_LEAD = [
    _spec("LeadFirstName", _("Lead first name"), "lead", "first_name"),
    _spec("LeadLastName", _("Lead last name"), "lead", "last_name"),
    _spec("LeadFullName", _("Lead full name"), "lead", "full_name"),
    _spec("LeadCompanyName", _("Lead company"), "lead", "company_name"),
    _spec("LeadTopic", _("Lead topic"), "lead", "topic"),
]
_OPPORTUNITY = [
    _spec("OpportunityName", _("Opportunity topic"), "opportunity", "name"),
    _spec("OpportunityEstimatedValue", _("Opportunity estimated revenue"), "opportunity", "estimated_value"),
    _spec("OpportunityCloseDate", _("Opportunity estimated close date"), "opportunity", "estimated_close_date"),
]

CATALOG: dict[str, list[PlaceholderSpec]] = {
    "contact": _CONTACT + _ACCOUNT + _USER,  # a contact's account is a related entity
    "account": _ACCOUNT + _USER,
    "lead": _LEAD + _USER,
    "opportunity": _OPPORTUNITY + _ACCOUNT + _USER,  # the opportunity's customer account
}


def placeholders_for(category: str) -> list[PlaceholderSpec]:
    return CATALOG.get(category, [])


def used_placeholders(body: str) -> list[str]:
    seen: list[str] = []
    for name in PLACEHOLDER_RE.findall(body):
        if name not in seen:
            seen.append(name)
    return seen


def unknown_placeholders(body: str, category: str) -> list[str]:
    """Placeholders in ``body`` that the category does not offer (refused when saving)."""
    allowed = {p.name for p in placeholders_for(category)}
    return [name for name in used_placeholders(body) if name not in allowed]


def render(
    body: str,
    category: str,
    context: Mapping[str, Mapping[str, object]],
    options: Mapping[str, Mapping[str, str]] | None = None,
    missing: Callable[[str], str] | None = None,
) -> str:
    """Fill every ``{{Name}}``: the field's value, else the placeholder's default, else ``missing(name)`` or "".

    Plain string substitution only: nothing in a template is evaluated.
    """
    specs = {p.name: p for p in placeholders_for(category)}
    options = options or {}

    def fill(match: re.Match) -> str:
        name = match.group(1)
        spec = specs.get(name)
        value = ""
        if spec is not None:
            entity, field = spec.path
            raw = (context.get(entity) or {}).get(field)
            value = "" if raw is None else str(raw).strip()
        if not value:
            value = str((options.get(name) or {}).get("default") or "")
        if not value and missing is not None:
            value = missing(name)
        return value

    return PLACEHOLDER_RE.sub(fill, body)
