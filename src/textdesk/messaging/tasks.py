"""Job handlers and pollers of text messaging (discovered by the worker)."""

from __future__ import annotations

import time

from django.conf import settings

from textdesk.jobs import queue, worker
from textdesk.messaging.inbound.intake import sweep_concat_parts
from textdesk.messaging.inbound.router import batch_size, route_pending
from textdesk.messaging.outbound import dispatch, pipeline, sweeper

queue.handler("send_message", prepare=dispatch.prepare_batch, lane=dispatch.lane_of)(dispatch.handle_send_job)
# On PostgreSQL each worker sends through the pipeline (many messages in flight); the handler above stays for SQLite
# and for what the pipeline leaves to it (recovery of an interrupted attempt, scheduled sends, quiet hours).
queue.pipeline("send_message", pipeline.factory)


# A pass that found at least this many messages means they arrive faster than passes run: worth lingering.
# (At ~500 msg/s with two workers, lingering from 2 rather than 10 cut the machine time per routed message from
# 3.0-3.6 to 2.0-2.1 ms, for a visible p50 of 17-19 ms instead of 9-14 ms; one message at a time is routed at once.)
LINGER_FROM = 2


@worker.poller
def route_inbound(worker_id: str) -> int:
    """Route pending inbound messages. Under load (a pass found ``LINGER_FROM`` messages or more, but not a full
    batch), linger ``ROUTING_LINGER_MS`` so the next pass finds more: a pass costs a dozen round trips whatever
    its size. A trickle, one message per pass, is routed at once (lingering there only added latency: visible p50
    5 → 43 ms)."""
    handled = route_pending(worker_id)
    full = handled >= batch_size()
    if LINGER_FROM <= handled and not full and settings.ROUTING_LINGER_MS > 0:
        _linger(settings.ROUTING_LINGER_MS / 1000)
    return worker.Pass(handled, more=full)


def _linger(seconds: float) -> None:
    time.sleep(seconds)


SWEEP_EVERY = 60.0  # seconds; parts wait minutes, so a sweep a minute is plenty
_last_sweep = {"at": 0.0}


@worker.poller
def sweep_parts(worker_id: str) -> int:
    if time.monotonic() - _last_sweep["at"] < SWEEP_EVERY:
        return 0
    _last_sweep["at"] = time.monotonic()
    return sweep_concat_parts()


_last_outbound_sweep = {"at": 0.0}


@worker.poller
def sweep_outbound(worker_id: str) -> int:
    """Every ``OUTBOUND_SWEEP_SECONDS``: no outbound message lost, stuck in flight, or waiting for a report forever."""
    if time.monotonic() - _last_outbound_sweep["at"] < settings.OUTBOUND_SWEEP_SECONDS:
        return 0
    _last_outbound_sweep["at"] = time.monotonic()
    return worker.Pass(sweeper.sweep(), more=False)
