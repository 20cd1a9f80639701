"""Per-sender-number sending rate, shared by every worker through ``SenderNumber.next_send_at``.

Each send reserves the next free slot under a row lock; the slot moves on by
``1 / rate`` seconds. A worker waits for a near slot and reschedules a far one
(without reserving it, so nobody else's slot is wasted).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from textdesk.messaging.models import NumberType, SenderNumber
from textdesk.org.models import OrganisationSettings


def rate_of(number: SenderNumber, org: OrganisationSettings | None = None) -> float:
    """Messages per second for this number: its own setting, else the organisation's for its type."""
    if number.rate_per_second:
        return number.rate_per_second
    org = org or OrganisationSettings.current()
    by_type: dict[str, float] = {
        NumberType.TOLL_FREE: org.rate_toll_free,
        NumberType.SHORT_CODE: org.rate_short_code,
    }
    return by_type.get(number.number_type, org.rate_long_code)


def reserve_slot(number_id: int, rate: float, now: dt.datetime, max_wait: dt.timedelta) -> tuple[bool, dt.datetime]:
    """Reserve the next slot if it is within ``max_wait``: (True, slot); else (False, when to try again).

    Inside a caller's transaction the number's row stays locked until that transaction ends (the worker
    reserves and marks the message ``sending`` in one commit).
    """
    interval = dt.timedelta(seconds=1.0 / rate) if rate and rate > 0 else dt.timedelta(0)
    with transaction.atomic(savepoint=False):
        # FOR NO KEY UPDATE, not FOR UPDATE: the send action's inserts check their foreign key to this row with a
        # KEY SHARE lock, which FOR UPDATE waits for (and they for it): with many sends on one number and a worker
        # holding the row while it writes the message and its conversation, the waits closed a cycle (deadlock).
        # NO KEY UPDATE conflicts only with other workers' slot reservations, which take the row first, in one order.
        number = SenderNumber.objects.select_for_update(no_key=True).only("id", "next_send_at").get(pk=number_id)
        slot = max(number.next_send_at or now, now)
        if slot - now > max_wait:
            return False, slot
        SenderNumber.objects.filter(pk=number_id).update(next_send_at=slot + interval)
    return True, slot
