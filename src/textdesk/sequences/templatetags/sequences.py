"""``{% up_next record %}``: the sales accelerator's widget for a record page."""

from __future__ import annotations

from django import template
from django.utils import timezone

from textdesk.domain import sequences as rules
from textdesk.sequences import actions, queries, rendering

register = template.Library()


def _phones(record) -> list[dict]:
    holder = rendering.phone_holder(record)
    if holder is None:
        return []
    phones = [p for p in holder.phone_numbers() if p["is_valid"]]
    # Mobile first: the number an automated step would use.
    return sorted(phones, key=lambda p: p["field"] != "mobile_phone")


def up_next_context(request, record, *, error: str = "", fix: str = "") -> dict:
    user = request.user
    connection = queries.open_connection(record)
    context = {
        "record": record,
        "connection": connection,
        "error": error,
        "fix": fix,
        "request": request,
        "now": timezone.now(),
    }
    if connection is None:
        from textdesk.sequences.models import Sequence

        context["sequences"] = list(Sequence.objects.filter(active=True, steps__isnull=False).distinct())
        context["last"] = record and _last_finished(record)
        return context
    step = connection.current_step
    context["step"] = step
    if connection.state == "failed":
        context["failure_title"], context["failure_fix"] = actions.failure_text(connection.failure_reason)
    if step is not None and step.kind == rules.TEXT_MANUAL:
        senders = list(rendering.usable_sender_numbers(user))
        preferred = rendering.sender_for(record)
        context.update(
            body=rendering.render_step_body(step.template, record, user),
            senders=senders,
            default_sender_id=preferred.pk
            if preferred and preferred in senders
            else (senders[0].pk if senders else None),
            recipients=_phones(record),
            pane_url=web_pane_url(record),
        )
    return context


def web_pane_url(record) -> str:
    """The web app's conversation pane for the record, when the web app is installed."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("record_pane", args=[record.record_type, record.pk])
    except NoReverseMatch:
        return ""


def _last_finished(record):
    from textdesk.sequences.models import SequenceConnection

    return (
        SequenceConnection.objects.filter(record_key=record.record_key)
        .select_related("sequence")
        .order_by("-finished_at", "-id")
        .first()
    )


@register.inclusion_tag("sequences/up_next.html", takes_context=True)
def up_next(context, record):
    return up_next_context(context["request"], record)


_SVG = (
    '<svg class="step-icon" aria-hidden="true" width="18" height="18" viewBox="0 0 24 24">'
    '<path fill="currentColor" d="{}"/></svg>'
)
# Plain shapes drawn for this app: a speech bubble, a paper plane, a clock, a handset, an envelope.
STEP_ICON_PATHS = {
    rules.TEXT_MANUAL: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2Zm3 5v2h10V9Zm0 4v2h7v-2Z",
    rules.TEXT_AUTOMATED: "M2 21 23 12 2 3v7l15 2-15 2Z",
    rules.WAIT: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm1 5v5.4l4 2.4-1 1.7-5-3V7Z",
    rules.CALL: "M6.6 10.8a15 15 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.6a1 1 0 0 1-.25 1Z",
    rules.EMAIL: "M3 5h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1Zm1 2.4V17h16V7.4l-8 5Zm.9-.4L12 11.3 19.1 7Z",
}


@register.filter
def step_icon(kind: str):
    from django.utils.html import format_html

    path = STEP_ICON_PATHS.get(kind)
    return format_html(_SVG, path) if path else ""


@register.filter
def record_type_label(record) -> str:
    return str(record._meta.verbose_name).capitalize()


@register.filter
def record_page_url(connection) -> str:
    """The record's page: the web app's record page when it has one, else the sales accelerator's own."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("record_detail", args=[connection.record_type, connection.record.pk])
    except NoReverseMatch:
        return reverse("sequences:record", args=[connection.record_key])
