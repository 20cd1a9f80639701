"""Job handlers and pollers of text messaging (discovered by the worker)."""

from __future__ import annotations

import time

from django.conf import settings

from textdesk.jobs import queue, worker
from textdesk.messaging import sending
from textdesk.messaging.actions.inbound import batch_size, route_pending
from textdesk.messaging.actions.intake import sweep_concat_parts

queue.handler("send_message", prepare=sending.prepare_batch, lane=sending.lane_of)(sending.handle_send_job)


@worker.poller
def route_inbound(worker_id: str) -> int:
    """Route pending inbound messages; after a partial batch, linger (``ROUTING_LINGER_MS``) so the next pass
    finds more: at 1,300 webhooks/s two workers otherwise routed a few messages per pass, spending more on each
    pass's fixed round trips than on the messages."""
    handled = route_pending(worker_id)
    if 0 < handled < batch_size() and settings.ROUTING_LINGER_MS > 0:
        time.sleep(settings.ROUTING_LINGER_MS / 1000)
    return handled

SWEEP_EVERY = 60.0  # seconds; parts wait minutes, so a sweep a minute is plenty
_last_sweep = {"at": 0.0}


@worker.poller
def sweep_parts(worker_id: str) -> int:
    if time.monotonic() - _last_sweep["at"] < SWEEP_EVERY:
        return 0
    _last_sweep["at"] = time.monotonic()
    return sweep_concat_parts()
