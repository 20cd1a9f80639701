"""Filters of the conversation grid and its search: numbers for people, highlighted matches."""

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template.defaultfilters import date
from django.urls import reverse
from django.utils.formats import localize
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # public in Django, missing from its stubs
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from textdesk.domain import phones
from textdesk.domain import search as search_rules
from textdesk.web.templatetags.textdesk_web import status_class

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


def status_label(status: str) -> str:
    """A delivery status as people read it (the words of partials/status_label.html)."""
    labels = {
        "delivered": _("Delivered"),
        "sent": _("Sent"),
        "failed": _("Failed"),
        "undelivered": _("Not delivered"),
        "queued": _("Sending"),
        "scheduled": _("Sending"),
        "sending": _("Sending"),
        "unknown": _("Unknown outcome"),
        "no_report": _("No delivery report"),
        "received": _("Received"),
    }
    return labels.get(status, status)


@register.simple_tag
def grid_row(c, at=None, message=None, hit=None, search=None) -> str:
    """One row of "My text messages" (a conversation, or a search hit on it), as partials/grid_row.html wrote it.

    Written in Python because the grid renders 25 of them on every page: through the template language a row
    cost about 0.4 ms of CPU, two fifths of the page's rendering, for a few dozen variable lookups."""
    record, number = str(c.record), phone(c.customer_e164)
    words = {"record": escape(record), "number": escape(number)}
    by_name = hit is not None and hit.kind == "c"
    customer = marked(record, search) if by_name else escape(record)
    shown_number = marked(number, search, "number") if by_name and search.digits else escape(number)
    you = format_html('<span class="muted">{}</span> ', _("You:"))
    if message is not None:
        preview = format_html(
            "{}{}", you if message.direction == "outbound" else "", marked(message.body, search, "words", 140)
        )
        status = message.status
    else:
        preview = format_html("{}{}", you if c.last_direction == "outbound" else "", c.last_message_preview)
        status = c.last_status
    when = ""
    if at:
        local = template_localtime(at)
        when = format_html(
            '<time datetime="{}" title="{}">{}</time>',
            date(local, "c"),
            date(local, "DATETIME_FORMAT"),
            naturaltime(at),
        )
    badge = ""
    if c.unread_count:
        n = localize(c.unread_count)
        label = ngettext("%(n)s unread message", "%(n)s unread messages", c.unread_count) % {"n": escape(n)}
        badge = format_html('<span class="badge" aria-label="{}">{}</span>', mark_safe(label), n)
    return format_html(
        '<tr tabindex="0" data-open="{}" data-conversation-row="{}" class="{}{}"\n'
        '        aria-label="{}">\n'
        '      <td class="sel"><input type="checkbox" name="conversation" value="{}" aria-label="{}"></td>\n'
        '      <td><span class="kind">{}</span></td>\n'
        '      <td class="customer"><a href="{}">{}</a>\n'
        '        <span class="mono" title="{}">{}</span></td>\n'
        '      <td class="mono" title="{}">{}</td>\n'
        '      <td class="preview">{}</td>\n'
        "      <td>{}</td>\n"
        "      <td>{}</td>\n"
        '      <td class="num">{}</td>\n'
        "    </tr>",
        reverse("conversation_pane", args=[c.pk]),
        c.pk,
        "unread" if c.unread_count else "",
        " hit" if hit else "",
        mark_safe(_("Conversation with %(number)s on %(record)s") % words),  # the words are escaped
        c.pk,
        mark_safe(_("Select the conversation with %(n)s") % {"n": words["number"]}),
        c.get_record_type_display(),
        reverse("record_detail", args=[c.record.record_type, c.record.pk]),
        customer,
        c.customer_e164,
        shown_number,
        c.sender_number.name,
        phone(c.sender_number.e164),
        preview,
        when,
        format_html('<span class="status {}">{}</span>', status_class(status), status_label(status))
        if message is not None or status
        else "",
        badge,
    )
