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
    context = {"record": record, "connection": connection, "error": error, "fix": fix, "request": request,
               "now": timezone.now()}
    if connection is None:
        from textdesk.sequences.models import Sequence

        context["sequences"] = list(Sequence.objects.filter(active=True, steps__isnull=False).distinct())
        context["last"] = (record and _last_finished(record))
        return context
    step = connection.current_step
    context["step"] = step
    context["overdue"] = bool(connection.due_at and connection.due_at <= context["now"])
    if connection.state == "failed":
        context["failure_title"], context["failure_fix"] = actions.failure_text(connection.failure_reason)
    if step is not None and step.kind == rules.TEXT_MANUAL:
        senders = list(rendering.usable_sender_numbers(user))
        preferred = rendering.sender_for(record)
        context.update(
            body=rendering.render_step_body(step.template, record, user),
            senders=senders,
            default_sender_id=preferred.pk if preferred and preferred in senders else (senders[0].pk if senders else None),
            recipients=_phones(record),
        )
    return context


def _last_finished(record):
    from textdesk.sequences.models import SequenceConnection

    return (SequenceConnection.objects.filter(record_key=record.record_key).select_related("sequence")
            .order_by("-finished_at", "-id").first())


@register.inclusion_tag("sequences/up_next.html", takes_context=True)
def up_next(context, record):
    return up_next_context(context["request"], record)


STEP_ICONS = {
    rules.TEXT_MANUAL: "💬", rules.TEXT_AUTOMATED: "📨", rules.WAIT: "⏳", rules.CALL: "📞", rules.EMAIL: "✉️",
}


@register.filter
def step_icon(kind: str) -> str:
    return STEP_ICONS.get(kind, "•")


@register.filter
def record_type_label(record) -> str:
    return str(record._meta.verbose_name).capitalize()
