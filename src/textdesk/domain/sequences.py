"""Sequence rules over plain data: what a step is, when it is due, whom it texts from and to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TEXT_MANUAL = "text_manual"
TEXT_AUTOMATED = "text_automated"
WAIT = "wait"
CALL = "call"
EMAIL = "email"

STEP_KINDS = (TEXT_MANUAL, TEXT_AUTOMATED, WAIT, CALL, EMAIL)
# Steps the queue worker runs when they are due; the others wait for a seller.
WORKER_KINDS = frozenset({WAIT, TEXT_AUTOMATED})
TEXT_KINDS = frozenset({TEXT_MANUAL, TEXT_AUTOMATED})
SELLER_KINDS = frozenset({TEXT_MANUAL, CALL, EMAIL})

# Longer waits are surely typing mistakes (and would overflow date arithmetic far enough out).
MAX_WAIT = dt.timedelta(days=365)

# Failure reasons that belong to sequences (send refusals use textdesk.domain.failures codes).
NO_SENDER_NUMBER = "NoSenderNumber"
TEMPLATE_MISSING = "TemplateMissing"


@dataclass(frozen=True)
class StepSpec:
    kind: str
    has_template: bool = False
    wait: dt.timedelta | None = None


def step_problems(step: StepSpec) -> list[str]:
    """What is wrong with one step as authored (empty when it is fine)."""
    problems = []
    if step.kind not in STEP_KINDS:
        problems.append("unknown_kind")
    if step.kind == TEXT_AUTOMATED and not step.has_template:
        problems.append("template_required")
    if step.kind == WAIT and (step.wait is None or step.wait <= dt.timedelta(0)):
        problems.append("wait_required")
    if step.kind == WAIT and step.wait is not None and step.wait > MAX_WAIT:
        problems.append("wait_too_long")
    if step.kind != WAIT and step.wait is not None:
        problems.append("wait_only_on_wait_steps")
    if step.kind not in TEXT_KINDS and step.has_template:
        problems.append("template_only_on_text_steps")
    return problems


def due_on_entry(step: StepSpec, entered_at: dt.datetime) -> dt.datetime:
    """When a step falls due once the record reaches it.

    A wait step is due when its time is over; every other step is due at once (an
    automated text right after the previous step, unless a wait step precedes it).
    """
    if step.kind == WAIT and step.wait is not None:
        return entered_at + step.wait
    return entered_at


def next_position(step_orders: Sequence[int], current_order: int | None) -> int | None:
    """The order of the step after ``current_order`` (the first when None), or None at the end."""
    ordered = sorted(step_orders)
    if current_order is None:
        return ordered[0] if ordered else None
    for order in ordered:
        if order > current_order:
            return order
    return None


def choose_recipient(mobile_e164: str, business_e164: str) -> str | None:
    """The customer's mobile number, else the business number; None when neither is a valid E.164."""
    return mobile_e164 or business_e164 or None


@dataclass(frozen=True)
class NumberOption:
    id: int
    owner_user_id: int | None
    owner_team_id: int | None


def choose_sender(
    numbers: Iterable[NumberOption],
    record_owner_user_id: int | None,
    record_owner_team_id: int | None,
    owner_team_ids: Iterable[int] = (),
) -> int | None:
    """The number an automated step sends from.

    A number of the record's owner (a user) first; else a number of one of that
    user's teams; for a team-owned record, a number of that team. Lowest id wins, so
    the choice is stable.
    """
    numbers = sorted(numbers, key=lambda n: n.id)
    if record_owner_user_id is not None:
        for n in numbers:
            if n.owner_user_id == record_owner_user_id:
                return n.id
        teams = set(owner_team_ids)
        for n in numbers:
            if n.owner_team_id is not None and n.owner_team_id in teams:
                return n.id
        return None
    for n in numbers:
        if record_owner_team_id is not None and n.owner_team_id == record_owner_team_id:
            return n.id
    return None


def may_work_on(
    user_id: int,
    user_team_ids: Iterable[int],
    owner_user_id: int | None,
    owner_team_id: int | None,
    manages_sequences: bool = False,
) -> bool:
    """A seller works on records owned by them or by one of their teams; sequence managers on any."""
    if manages_sequences:
        return True
    if owner_user_id is not None:
        return owner_user_id == user_id
    return owner_team_id is not None and owner_team_id in set(user_team_ids)
