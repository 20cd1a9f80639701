"""The manager's figures: messages per day, delivery rate and top failure reasons, first-response time,
opt-outs per week. Plain queries over a period (and optionally one sender number); each figure is also
a CSV table."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from textdesk.domain import failures

CHARTS = ("messages", "delivery", "failures", "response", "optouts")


@dataclass(frozen=True)
class Filters:
    days: int = 30
    number_id: int | None = None

    @property
    def since(self) -> dt.datetime:
        return timezone.now() - dt.timedelta(days=self.days)


def _messages(filters: Filters):
    from textdesk.messaging.models import Message

    messages = Message.objects.filter(created_at__gte=filters.since)
    if filters.number_id:
        messages = messages.filter(sender_number_id=filters.number_id)
    return messages


def messages_per_day(filters: Filters) -> list[list]:
    rows = (
        _messages(filters)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(sent=Count("id", filter=Q(direction="outbound")), received=Count("id", filter=Q(direction="inbound")))
        .order_by("day")
    )
    return [["day", "sent", "received"]] + [[str(r["day"]), r["sent"], r["received"]] for r in rows]


def delivery(filters: Filters) -> list[list]:
    counts = (
        _messages(filters)
        .filter(direction="outbound")
        .aggregate(
            delivered=Count("id", filter=Q(status="delivered")),
            failed=Count("id", filter=Q(status__in=["failed", "undelivered"])),
            pending=Count("id", filter=~Q(status__in=["delivered", "failed", "undelivered"])),
        )
    )
    done = counts["delivered"] + counts["failed"]
    rate = round(100 * counts["delivered"] / done, 1) if done else 0.0
    return [
        ["delivered", "failed", "pending", "delivery_rate_percent"],
        [counts["delivered"], counts["failed"], counts["pending"], rate],
    ]


def top_failures(filters: Filters, limit: int = 5) -> list[list]:
    rows = (
        _messages(filters)
        .filter(direction="outbound", status__in=["failed", "undelivered"])
        .values("failure_reason")
        .annotate(n=Count("id"))
        .order_by("-n")[:limit]
    )
    out = [["reason", "count", "fix"]]
    for r in rows:
        described = failures.describe(r["failure_reason"] or failures.UNKNOWN)
        out.append([str(described.title), r["n"], str(described.fix)])
    return out


def first_response(filters: Filters) -> list[list]:
    """Minutes from a customer's message to the seller's next message in the same conversation: median, p90."""
    delays: list[float] = []
    last_inbound: dict[int, dt.datetime] = {}
    rows = _messages(filters).filter(conversation__isnull=False).order_by("created_at", "pk")
    for conversation_id, direction, at in rows.values_list("conversation_id", "direction", "created_at").iterator():
        if direction == "inbound":
            last_inbound.setdefault(conversation_id, at)
        elif conversation_id in last_inbound:
            delays.append((at - last_inbound.pop(conversation_id)).total_seconds() / 60)
    if not delays:
        return [["replies", "median_minutes", "p90_minutes"], [0, 0, 0]]
    delays.sort()
    p90 = delays[min(len(delays) - 1, int(0.9 * len(delays)))]
    return [
        ["replies", "median_minutes", "p90_minutes"],
        [len(delays), round(statistics.median(delays), 1), round(p90, 1)],
    ]


def optouts_per_week(filters: Filters) -> list[list]:
    from textdesk.messaging.models import ConsentEvent, SenderNumber

    events = ConsentEvent.objects.filter(action="opt_out", at__gte=filters.since)
    if filters.number_id:
        number = SenderNumber.objects.filter(pk=filters.number_id).values_list("e164", flat=True).first()
        events = events.filter(scope__in=[number, "*"])
    rows = events.annotate(week=TruncWeek("at")).values("week").annotate(n=Count("id")).order_by("week")
    return [["week", "opt_outs"]] + [
        [str(r["week"].date() if hasattr(r["week"], "date") else r["week"]), r["n"]] for r in rows
    ]


def table(chart: str, filters: Filters) -> list[list]:
    return {
        "messages": messages_per_day,
        "delivery": delivery,
        "failures": top_failures,
        "response": first_response,
        "optouts": optouts_per_week,
    }[chart](filters)
