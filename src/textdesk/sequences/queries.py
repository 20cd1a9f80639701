"""Read-side of sequences: the seller's work list and a record's current step."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from textdesk.crm import record_types
from textdesk.sequences.models import OPEN_STATES, SequenceConnection

RECORD_FIELDS = record_types.LINK_FIELDS


def mine_filter(user) -> Q:
    """Connections of records owned by the user or by one of their teams."""
    team_ids = user.team_ids()
    q = Q()
    for field in RECORD_FIELDS:
        q |= Q(**{f"{field}__owner_user": user.pk})
        if team_ids:
            q |= Q(**{f"{field}__owner_team__in": team_ids})
    return q


def work_list(user, *, step_kind: str | None = None, record_type: str | None = None) -> QuerySet[SequenceConnection]:
    """My records with a due or upcoming step, earliest due first."""
    if not user.is_authenticated or not user.is_active:
        return SequenceConnection.objects.none()
    qs = SequenceConnection.objects.filter(mine_filter(user), state__in=OPEN_STATES, current_step__isnull=False)
    if step_kind:
        qs = qs.filter(current_step__kind=step_kind)
    if record_type:
        qs = qs.filter(record_type=record_type)
    return qs.select_related("sequence", "current_step", "current_step__template", *RECORD_FIELDS).order_by(
        "due_at", "id"
    )


def open_connection(record) -> SequenceConnection | None:
    """The record's running (or failed) sequence, if any."""
    return (
        SequenceConnection.objects.filter(record_key=record.record_key, state__in=OPEN_STATES)
        .select_related("sequence", "current_step", "current_step__template")
        .first()
    )
