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

CHARTS = ("messages", "delivery", "failures", "response", "optouts", "optouts_by_number", "sellers", "teams")


@dataclass(frozen=True)
class Filters:
    days: int = 30
    number_id: int | None = None
    team_id: int | None = None

    @property
    def since(self) -> dt.datetime:
        return timezone.now() - dt.timedelta(days=self.days)


def _messages(filters: Filters):
    from textdesk.messaging.models import Message

    messages = Message.objects.filter(created_at__gte=filters.since)
    if filters.number_id:
        messages = messages.filter(sender_number_id=filters.number_id)
    if filters.team_id:
        messages = messages.filter(sender_number_id__in=_team_numbers(filters.team_id))
    return messages


def _team_numbers(team_id: int):
    """The numbers a team works from: its own and its members'."""
    from textdesk.messaging.models import SenderNumber

    return SenderNumber.objects.filter(Q(owner_team_id=team_id) | Q(owner_user__teams__id=team_id)).values("pk")


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


def _optouts(filters: Filters):
    from textdesk.messaging.models import ConsentEvent, SenderNumber

    events = ConsentEvent.objects.filter(action="opt_out", at__gte=filters.since)
    if filters.number_id:
        number = SenderNumber.objects.filter(pk=filters.number_id).values_list("e164", flat=True).first()
        events = events.filter(scope__in=[number, "*"])
    if filters.team_id:
        numbers = SenderNumber.objects.filter(pk__in=_team_numbers(filters.team_id)).values_list("e164", flat=True)
        events = events.filter(scope__in=[*numbers, "*"])
    return events


def optouts_per_week(filters: Filters) -> list[list]:
    rows = _optouts(filters).annotate(week=TruncWeek("at")).values("week").annotate(n=Count("id")).order_by("week")
    return [["week", "opt_outs"]] + [
        [str(r["week"].date() if hasattr(r["week"], "date") else r["week"]), r["n"]] for r in rows
    ]


def optouts_by_number(filters: Filters) -> list[list]:
    """Opt-outs per sender number; "*" is a STOPALL or a revoked consent, which stops every number."""
    rows = _optouts(filters).values("scope").annotate(n=Count("id")).order_by("-n", "scope")
    return [["number", "opt_outs"]] + [[r["scope"], r["n"]] for r in rows]


def per_seller(filters: Filters) -> list[list]:
    """Messages each seller sent (automatic sends have no author and are left out), and how they ended."""
    rows = (
        _messages(filters)
        .filter(direction="outbound", author__isnull=False)
        .values("author__username")
        .annotate(
            sent=Count("id"),
            delivered=Count("id", filter=Q(status="delivered")),
            failed=Count("id", filter=Q(status__in=["failed", "undelivered"])),
        )
        .order_by("-sent", "author__username")
    )
    return [["seller", "sent", "delivered", "failed"]] + [
        [r["author__username"], r["sent"], r["delivered"], r["failed"]] for r in rows
    ]


def per_team(filters: Filters) -> list[list]:
    """Messages sent and received on each team's numbers (the team's own and its members')."""
    from textdesk.org.models import Team

    teams = Team.objects.order_by("name")
    if filters.team_id:
        teams = teams.filter(pk=filters.team_id)
    out = [["team", "sent", "received", "delivered"]]
    for team in teams:
        counts = (
            _messages(filters)
            .filter(sender_number_id__in=_team_numbers(team.pk))
            .aggregate(
                sent=Count("id", filter=Q(direction="outbound")),
                received=Count("id", filter=Q(direction="inbound")),
                delivered=Count("id", filter=Q(status="delivered")),
            )
        )
        out.append([team.name, counts["sent"], counts["received"], counts["delivered"]])
    return out


def table(chart: str, filters: Filters) -> list[list]:
    return {
        "messages": messages_per_day,
        "delivery": delivery,
        "failures": top_failures,
        "response": first_response,
        "optouts": optouts_per_week,
        "optouts_by_number": optouts_by_number,
        "sellers": per_seller,
        "teams": per_team,
    }[chart](filters)
