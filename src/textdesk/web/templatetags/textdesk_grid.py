"""Filters of the conversation grid and its search: numbers for people, highlighted matches."""

from django import template
from django.utils.safestring import mark_safe

from textdesk.domain import phones
from textdesk.domain import search as search_rules

register = template.Library()


@register.filter
def phone(e164: str) -> str:
    """+14155550134 → +1 415-555-0134 (as written in its country); anything unreadable as it is."""
    return phones.display(e164) if e164 else ""


@register.simple_tag
def marked(text: str, query, mode: str = "words", around: int | None = None) -> str:
    """``text`` escaped, with the query's matches in ``<mark>``. ``mode``: "words" or "number" (digits)."""
    segments = search_rules.highlight(text or "", query, number=mode == "number", around=around)
    return mark_safe(search_rules.marked_html(segments))  # every piece is escaped by marked_html
