"""Plain values of a record (and its related records and the sender) for filling templates."""

from __future__ import annotations

from django.utils import formats


def _person(obj) -> dict:
    first, last = getattr(obj, "first_name", ""), getattr(obj, "last_name", "")
    return {"first_name": first, "last_name": last, "full_name": f"{first} {last}".strip()}


def _account(account) -> dict:
    if account is None:
        return {}
    return {"name": account.name, "city": account.city, "website": account.website}


def record_context(record, user) -> dict[str, dict]:
    """``{"contact": {...}, "account": {...}, "user": {...}, ...}`` for textdesk.domain.templating.render."""
    ctx: dict[str, dict] = {"user": _person(user)}
    kind = record.record_type
    if kind == "contact":
        ctx["contact"] = {**_person(record), "job_title": record.job_title, "email": record.email}
        ctx["account"] = _account(record.account)
    elif kind == "account":
        ctx["account"] = _account(record)
    elif kind == "lead":
        ctx["lead"] = {**_person(record), "company_name": record.company_name, "topic": record.topic}
    elif kind == "opportunity":
        ctx["opportunity"] = {
            "name": record.name,
            "estimated_value": formats.number_format(record.estimated_value, 2, use_l10n=True)
            if record.estimated_value is not None
            else "",
            "estimated_close_date": formats.date_format(record.estimated_close_date, "SHORT_DATE_FORMAT")
            if record.estimated_close_date
            else "",
        }
        ctx["account"] = _account(record.account)
    return ctx
