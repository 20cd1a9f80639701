from django import template
from django.urls import reverse

register = template.Library()


@register.filter
def record_url(record) -> str:
    return reverse("record_detail", args=[record.record_type, record.pk])


@register.filter
def record_kind_label(record) -> str:
    return str(record._meta.verbose_name).capitalize()


@register.simple_tag(takes_context=True)
def sort_link(context, key: str) -> str:
    """The grid's sort parameter for a column: ascending first, then toggles."""
    current = context.get("sort", "-time")
    return f"-{key}" if current == key else key


@register.filter
def status_class(status: str) -> str:
    return {
        "delivered": "ok",
        "sent": "info",
        "failed": "bad",
        "undelivered": "bad",
        "unknown": "warn",
        "no_report": "warn",
        "received": "info",
    }.get(status or "", "muted")
