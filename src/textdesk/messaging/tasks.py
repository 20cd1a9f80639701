"""Job handlers and pollers of text messaging (discovered by the worker)."""

from __future__ import annotations

import time

from textdesk.jobs import queue, worker
from textdesk.messaging import sending
from textdesk.messaging.actions.inbound import route_pending
from textdesk.messaging.actions.intake import sweep_concat_parts

queue.handler("send_message", prepare=sending.prepare_batch, lane=sending.lane_of)(sending.handle_send_job)
worker.poller(route_pending)

SWEEP_EVERY = 60.0  # seconds; parts wait minutes, so a sweep a minute is plenty
_last_sweep = {"at": 0.0}


@worker.poller
def sweep_parts(worker_id: str) -> int:
    if time.monotonic() - _last_sweep["at"] < SWEEP_EVERY:
        return 0
    _last_sweep["at"] = time.monotonic()
    return sweep_concat_parts()
