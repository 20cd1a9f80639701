"""The manager's figures: messages per day, delivery rate and top failure reasons, first-response time,
opt-outs per week. Plain queries over a period (and optionally one sender number); each figure is also
a CSV table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
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
    """Minutes from a customer's message to the seller's next message in the same conversation: median, p90.

    A customer's run of messages (everything since the seller's last message) is answered by the seller's next
    message; the delay runs from the run's first message. Computed in the database with window functions (on
    the scale data set, reading every message of the period into Python took most of the page's time): each
    message learns how many seller messages precede it in its conversation, a run is the customer's messages
    sharing that number, its answer the seller's message whose number is one more. Only the median and the p90
    rows come back."""
    from django.db import connection

    inner, params = (
        _messages(filters)
        .filter(conversation__isnull=False)
        .order_by()
        .values("id", "conversation_id", "direction", "created_at")
        .query.sql_with_params()
    )
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        seconds = "EXTRACT(EPOCH FROM (a.at - a.first_in))"
    else:
        seconds = "(julianday(a.at) - julianday(a.first_in)) * 86400.0"
    sql = f"""
        WITH m AS ({inner}),
        numbered AS (
            SELECT conversation_id, direction, created_at,
                   SUM(CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END)
                       OVER (PARTITION BY conversation_id ORDER BY created_at, id ROWS UNBOUNDED PRECEDING)
                   - CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END AS run
            FROM m
        ),
        runs AS (
            SELECT direction, created_at AS at,
                   MIN(CASE WHEN direction = 'inbound' THEN created_at END)
                       OVER (PARTITION BY conversation_id, run) AS first_in
            FROM numbered
        ),
        delays AS (
            SELECT {seconds} / 60.0 AS minutes FROM runs a WHERE a.direction = 'outbound' AND a.first_in IS NOT NULL
        ),
        ranked AS (
            SELECT minutes, ROW_NUMBER() OVER (ORDER BY minutes) AS rn, COUNT(*) OVER () AS n FROM delays
        )
        SELECT n, rn, minutes FROM ranked
        WHERE rn IN ((n - 1) / 2 + 1, n / 2 + 1, CASE WHEN (9 * n) / 10 + 1 > n THEN n ELSE (9 * n) / 10 + 1 END)
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if postgresql:
            # The period's messages are sorted by conversation; PostgreSQL's default 4 MB spills them to disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return [["replies", "median_minutes", "p90_minutes"], [0, 0, 0]]
    n = int(rows[0][0])
    at = {int(rn): float(minutes) for _, rn, minutes in rows}
    median = (at[(n - 1) // 2 + 1] + at[n // 2 + 1]) / 2
    p90 = at[min(n, (9 * n) // 10 + 1)]  # integer ranks: the same on both engines
    return [["replies", "median_minutes", "p90_minutes"], [n, round(median, 1), round(p90, 1)]]


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
    """Messages sent and received on each team's numbers (the team's own and its members'). The period's
    messages are counted per number once; each team adds up its numbers (a number may count for two teams)."""
    from textdesk.org.models import Team

    teams = Team.objects.order_by("name")
    if filters.team_id:
        teams = teams.filter(pk=filters.team_id)
    by_number = {
        row["sender_number_id"]: row
        for row in _messages(filters)
        .order_by()
        .values("sender_number_id")
        .annotate(
            sent=Count("id", filter=Q(direction="outbound")),
            received=Count("id", filter=Q(direction="inbound")),
            delivered=Count("id", filter=Q(status="delivered")),
        )
    }
    out = [["team", "sent", "received", "delivered"]]
    for team in teams:
        numbers = {row["pk"] for row in _team_numbers(team.pk)}
        rows = [by_number[n] for n in numbers if n in by_number]
        out.append([team.name, *(sum(r[k] for r in rows) for k in ("sent", "received", "delivered"))])
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
