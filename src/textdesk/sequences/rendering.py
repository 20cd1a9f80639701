"""Fill a step's template from a record, and pick the numbers an automated step uses."""

from __future__ import annotations

from textdesk.domain import sequences as rules
from textdesk.domain import templating


def _person(obj) -> dict:
    if obj is None:
        return {}
    first, last = getattr(obj, "first_name", ""), getattr(obj, "last_name", "")
    return {
        "first_name": first,
        "last_name": last,
        "full_name": f"{first} {last}".strip(),
        "job_title": getattr(obj, "job_title", ""),
        "email": getattr(obj, "email", ""),
        "company_name": getattr(obj, "company_name", ""),
        "topic": getattr(obj, "topic", ""),
    }


def _account(obj) -> dict:
    if obj is None:
        return {}
    return {"name": obj.name, "city": obj.city, "website": obj.website}


def record_context(record, user=None) -> dict:
    """Plain values of a record (and its related account, and the sending user) for templating.render."""
    ctx: dict[str, dict] = {"user": _person(user)}
    kind = record.record_type
    if kind == "contact":
        ctx["contact"] = _person(record)
        ctx["account"] = _account(record.account)
    elif kind == "lead":
        ctx["lead"] = _person(record)
    elif kind == "account":
        ctx["account"] = _account(record)
    elif kind == "opportunity":
        ctx["opportunity"] = {
            "name": record.name,
            "estimated_value": record.estimated_value,
            "estimated_close_date": record.estimated_close_date,
        }
        account = record.account or (record.customer_contact.account if record.customer_contact_id else None)
        ctx["account"] = _account(account)
    return ctx


def render_step_body(template, record, user=None) -> str:
    if template is None:
        return ""
    options: dict[str, dict] = {
        p["name"]: p for p in (template.placeholders or []) if isinstance(p, dict) and p.get("name")
    }
    return templating.render(template.body, template.category, record_context(record, user), options)


def phone_holder(record):
    """The record whose phone fields a text goes to: itself, or an opportunity's customer."""
    if record.record_type == "opportunity":
        return record.customer
    return record


def recipient_for(record) -> str | None:
    holder = phone_holder(record)
    if holder is None:
        return None
    return rules.choose_recipient(getattr(holder, "mobile_phone_e164", ""), getattr(holder, "business_phone_e164", ""))


def sender_for(record):
    """The sender number an automated step uses for this record (see rules.choose_sender), or None."""
    from django.db.models import Q

    from textdesk.messaging.models import SenderNumber

    owner_team_ids: list[int] = []
    if record.owner_user_id:
        owner_team_ids = list(record.owner_user.teams.values_list("id", flat=True))
        scope = Q(owner_user_id=record.owner_user_id) | Q(owner_team_id__in=owner_team_ids)
    else:
        scope = Q(owner_team_id=record.owner_team_id)
    candidates = list(SenderNumber.objects.filter(scope, is_active=True))
    chosen = rules.choose_sender(
        [rules.NumberOption(n.id, n.owner_user_id, n.owner_team_id) for n in candidates],
        record.owner_user_id,
        record.owner_team_id,
        owner_team_ids,
    )
    return next((n for n in candidates if n.id == chosen), None)


def usable_sender_numbers(user):
    """Numbers a seller may send a manual step from: their own and their teams'."""
    from django.db.models import Q

    from textdesk.messaging.models import SenderNumber

    return (
        SenderNumber.objects.filter(Q(owner_user=user) | Q(owner_team__in=user.teams.all()), is_active=True)
        .distinct()
        .order_by("name")
    )
