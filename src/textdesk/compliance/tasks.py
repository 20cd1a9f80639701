"""Worker pollers of compliance: opt-out requests in free text (every few seconds), retention (daily)."""

from __future__ import annotations

import logging
import time

from textdesk.compliance.actions import replies
from textdesk.jobs import queue, worker

queue.handler(replies.REPLY_JOB)(replies.answer_job)

INTENT_EVERY = 2.0  # seconds between scans in one worker; a flag a couple of seconds late is fine
RETENTION_CHECK_EVERY = 600.0
_last = {"intent": 0.0, "retention": 0.0}
log = logging.getLogger(__name__)


@worker.poller
def scan_optout_intent(worker_id: str) -> int:
    if time.monotonic() - _last["intent"] < INTENT_EVERY:
        return 0
    _last["intent"] = time.monotonic()
    from textdesk.compliance.actions import intent

    try:
        intent.scan()
    except Exception:  # a bad message must not stop the worker's other work; the next scan retries
        log.exception("opt-out intent scan failed")
    return 0  # never asks for an immediate next pass: the next scan comes with the worker's next pass


@worker.poller
def apply_retention(worker_id: str) -> int:
    if time.monotonic() - _last["retention"] < RETENTION_CHECK_EVERY:
        return 0
    _last["retention"] = time.monotonic()
    from textdesk.compliance.actions import retention

    try:
        if retention.due():
            retention.apply()
    except Exception:
        log.exception("retention run failed")
    return 0
