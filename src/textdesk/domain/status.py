"""The provider-neutral message status and its precedence rules.

A status callback may arrive late, twice, or out of order. A message only
moves *forward*: a final state (delivered, undelivered, failed) is never left,
and a non-final state never replaces a later one.
"""

from __future__ import annotations

SCHEDULED = "scheduled"
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"
UNKNOWN = "unknown"  # handed to the provider, outcome cannot be known (worker died mid-send)
NO_REPORT = "no_report"  # accepted by the provider, but no final delivery report came in time
RECEIVED = "received"

OUTBOUND_STATES = (SCHEDULED, QUEUED, SENDING, SENT, DELIVERED, UNDELIVERED, FAILED, UNKNOWN, NO_REPORT)
FINAL_STATES = frozenset({DELIVERED, UNDELIVERED, FAILED})

# Rank along the life of an outbound message; higher wins.
_RANK = {
    SCHEDULED: 0,
    QUEUED: 1,
    SENDING: 2,
    UNKNOWN: 3,
    SENT: 4,
    NO_REPORT: 5,
    DELIVERED: 10,
    UNDELIVERED: 10,
    FAILED: 10,
}


def is_final(status: str) -> bool:
    return status in FINAL_STATES


def should_apply(current: str, incoming: str | None) -> bool:
    """True when ``incoming`` may replace ``current``.

    - ``None`` (a provider value that carries no news, e.g. Vonage ``unknown``) never applies;
    - a final state is never left, not even for another final state (first final report wins);
    - otherwise only a strictly later state applies (so duplicates are no-ops).
    """
    if incoming is None or incoming == current:
        return False
    if current in FINAL_STATES:
        return False
    return _RANK.get(incoming, -1) > _RANK.get(current, -1)


def combine_parts(part_statuses: list[str]) -> str | None:
    """The status of a message sent in separately reported parts.

    Failed or undelivered as soon as any part is (failed first); delivered only when every part is;
    otherwise the least advanced status among the parts. None when there are no parts.
    """
    if not part_statuses:
        return None
    if FAILED in part_statuses:
        return FAILED
    if UNDELIVERED in part_statuses:
        return UNDELIVERED
    return min(part_statuses, key=lambda s: _RANK.get(s, -1))


# The outbound status machine: every status an outbound message may move to from each status. Whoever writes an
# outbound message's status (the worker, a delivery report, the sweeper) asks ``may_transition`` first.
#
# - forward along the life of a message: scheduled/queued -> sending -> sent -> delivered | undelivered | failed;
# - ``sending -> queued`` is the one step back: a retry, allowed only when the attempt certainly did not reach the
#   provider (or the provider honours our idempotency key), which the worker decides before asking;
# - ``sending -> sending`` records news without a change (an accepted answer, a new attempt of an interrupted send);
# - ``unknown`` (worker died mid-send, provider cannot tell) and ``no_report`` (no final report in time) are not
#   final: a late report or a reconciliation may still tell the truth;
# - a final state is never left.
_FORWARD_REPORTS = frozenset({SENT, NO_REPORT, DELIVERED, UNDELIVERED, FAILED})
TRANSITIONS: dict[str, frozenset[str]] = {
    SCHEDULED: frozenset({QUEUED, SENDING, FAILED}),
    QUEUED: frozenset({SENDING, FAILED}),
    SENDING: frozenset({SENDING, QUEUED, UNKNOWN}) | _FORWARD_REPORTS,
    UNKNOWN: frozenset({SENT, DELIVERED, UNDELIVERED, FAILED}),
    SENT: frozenset({NO_REPORT, DELIVERED, UNDELIVERED, FAILED}),
    NO_REPORT: frozenset({DELIVERED, UNDELIVERED, FAILED}),
    DELIVERED: frozenset(),
    UNDELIVERED: frozenset(),
    FAILED: frozenset(),
}

# Statuses of a message the worker still owes an outcome (the sweeper watches them).
IN_FLIGHT = frozenset({SCHEDULED, QUEUED, SENDING})
# Accepted by the provider, final report awaited (with a provider id).
AWAITING_REPORT = frozenset({SENDING, SENT})


def may_transition(current: str, target: str | None) -> bool:
    """True when an outbound message in ``current`` may be moved to ``target`` (see ``TRANSITIONS``)."""
    if target is None:
        return False
    return target in TRANSITIONS.get(current, frozenset())


# The seed product's status reasons (msdyn_salesocmessage.statuscode), for the API and UI.
SEED_STATUS_REASON = {
    SCHEDULED: "NotSent",
    QUEUED: "NotSent",
    SENDING: "NotSent",
    UNKNOWN: "SendingAborted",
    SENT: "Sent",
    NO_REPORT: "Sent",
    DELIVERED: "Delivered",
    UNDELIVERED: "NotDelivered",
    FAILED: "SendingFailed",
    RECEIVED: "InboundProcessingSuccessful",
}


def seed_status_reason(status: str, routing_failed: bool = False) -> str:
    if status == RECEIVED and routing_failed:
        return "InboundProcessingFailure"
    return SEED_STATUS_REASON.get(status, "NotSent")
