"""CRM record helpers for the web app: lookups, titles, fields shown on record pages, typeahead search."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404

from textdesk.crm import record_types
from textdesk.crm.models import RECORD_MODELS, Account, Contact, Lead, Opportunity, parse_record_key
from textdesk.domain import phones

LIST_TITLES = {s.key: s.plural for s in record_types.RECORD_TYPES}
# Fields shown on a record page, in order (phone fields are shown with their message icon).
DETAIL_FIELDS = {s.key: list(s.detail_fields) for s in record_types.RECORD_TYPES}
SEARCH_FIELDS = {s.key: list(s.search_fields) for s in record_types.RECORD_TYPES}


def can_view(user, record_type: str) -> bool:
    return user.has_perm(f"crm.view_{record_type}")


def get_record(user, record_type: str, pk: int):
    """The record, or 404 when the type is unknown, it does not exist, or the user may not read this type."""
    model = RECORD_MODELS.get(record_type)
    if model is None or not can_view(user, record_type):
        raise Http404
    try:
        return model.objects.get(pk=pk)
    except model.DoesNotExist:
        raise Http404 from None


def get_record_by_key(user, key: str):
    try:
        kind, pk = parse_record_key(key)
    except ValueError:
        raise Http404 from None
    return get_record(user, kind, pk)


def search_query(record_type: str, text: str) -> Q:
    q = Q()
    for field in SEARCH_FIELDS[record_type]:
        q |= Q(**{f"{field}__icontains": text})
    parsed = phones.normalise(text)
    if parsed.is_valid:
        if record_type != "opportunity":
            q |= Q(business_phone_e164=parsed.e164) | Q(mobile_phone_e164=parsed.e164)
    if record_type in ("contact", "lead") and " " in text.strip():
        first, _, last = text.strip().partition(" ")
        q |= Q(first_name__icontains=first, last_name__icontains=last.strip())
    return q


def search_records(user, text: str, limit: int = 8) -> list:
    """Records of every type (the user may read) whose name or phone matches ``text``."""
    text = text.strip()
    if len(text) < 2:
        return []
    found = []
    for kind, model in RECORD_MODELS.items():
        if can_view(user, kind):
            found += list(model.objects.filter(search_query(kind, text))[:limit])
    return found[: limit * 2]


def phone_numbers_for(record) -> list[dict]:
    """Numbers a conversation on this record can use: its own phones; an opportunity's contacts' and account's."""
    if record.record_type != "opportunity":
        return [dict(n, owner=None) for n in record.phone_numbers()]
    related = []
    if record.customer_contact_id:
        related.append(record.customer_contact)
    related += [c for c in record.contacts.all() if c.pk != record.customer_contact_id]
    if record.account_id:
        related.append(record.account)
    out = []
    for rel in related:
        for n in rel.phone_numbers():
            out.append(dict(n, owner=rel, label=f"{rel} · {n['label']}"))
    return out


def related_records(record) -> list:
    """The related-conversation selector: a contact's opportunities, an opportunity's contacts."""
    if record.record_type == "contact":
        opps = Opportunity.objects.filter(Q(contacts=record) | Q(customer_contact=record)).distinct()
        return list(opps)
    if record.record_type == "opportunity":
        contacts = Contact.objects.filter(Q(opportunities=record) | Q(customer_opportunities=record)).distinct()
        return list(contacts)
    return []


__all__ = ["Account", "Contact", "Lead", "Opportunity"]
