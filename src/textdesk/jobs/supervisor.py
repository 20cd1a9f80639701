"""Keeping workers alive: back-off on outages, heartbeats, and a supervisor that restarts a dead loop.

A worker's pass fails while PostgreSQL is unreachable; the wake-up channel goes quiet while Redis is. Neither is
a reason to exit: the worker logs the outage once, waits a capped, growing delay between attempts (so a long
outage costs a few queries a minute, not a busy loop), and resumes by itself. Should its loop still end (a bug
outside the pass, a failure while starting), :class:`Supervisor` logs it and starts the loop again after a delay.

Every worker writes a heartbeat row (``jobs.WorkerHeartbeat``) every few seconds while it can reach the database;
``/healthz`` reports each worker's last heartbeat, so a stalled worker is visible from outside.
"""

from __future__ import annotations

import datetime
import logging
import os
import random
import socket
import threading
import time

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# A worker that has not written its heartbeat for this long is reported as not alive by /healthz.
STALE_SECONDS = 30.0


class Backoff:
    """Capped exponential delays with a little jitter (several workers do not retry in step)."""

    def __init__(self, first: float = 0.5, cap: float = 15.0, factor: float = 2.0) -> None:
        self.first, self.cap, self.factor = first, cap, factor
        self.failures = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * self.factor**self.failures)
        self.failures += 1
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self.failures = 0


class Health:
    """A worker's view of its own health: outages (logged once, waited out with back-off) and heartbeats."""

    def __init__(self, worker_id: str, stopping: threading.Event) -> None:
        self.worker_id = worker_id
        self.stopping = stopping
        self.backoff = Backoff()
        self.outage_since: float | None = None
        self.restarts = 0
        self.started_at: datetime.datetime | None = None
        self._next_beat = 0.0

    def failed(self) -> None:
        """A pass failed (database or Redis unreachable, or a bug): log, close the broken connection, wait."""
        import sys

        from django.db import InterfaceError, OperationalError, connections

        delay = self.backoff.next()
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            error = sys.exc_info()[1]
            if isinstance(error, OperationalError | InterfaceError):  # an outage: its reason is enough
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                log.warning("worker %s: pass failed (%s); retrying with back-off", self.worker_id, reason)
            else:  # a bug, most likely: keep the traceback
                log.warning("worker %s: pass failed; retrying with back-off", self.worker_id, exc_info=True)
        else:
            log.warning("worker %s: still failing; next attempt in %.1f s", self.worker_id, delay)
        for conn in connections.all(initialized_only=True):
            conn.close_if_unusable_or_obsolete()
        self.stopping.wait(delay)

    def passed(self) -> None:
        """A pass succeeded: end an outage, and write the heartbeat when it is due."""
        if self.outage_since is not None:
            log.warning("worker %s: resumed after %.1f s", self.worker_id, time.monotonic() - self.outage_since)
            self.outage_since = None
            self.backoff.reset()
        if time.monotonic() >= self._next_beat:
            self.beat()

    def beat(self) -> None:
        from django.utils import timezone

        from textdesk.jobs.models import WorkerHeartbeat

        now = timezone.now()
        self._next_beat = time.monotonic() + HEARTBEAT_SECONDS
        if self.started_at is None:
            self.started_at = now
        try:
            WorkerHeartbeat.objects.update_or_create(
                name=self.worker_id[:200],
                defaults={
                    "host": socket.gethostname()[:200],
                    "pid": os.getpid(),
                    "started_at": self.started_at,
                    "beat_at": now,
                    "restarts": self.restarts,
                },
            )
        except Exception:  # the next pass finds out whether the database is gone; this is only a heartbeat
            log.warning("worker %s: could not write its heartbeat", self.worker_id, exc_info=True)


class Supervisor:
    """Runs a worker's loop and starts it again, after a growing delay, whenever it ends without being stopped."""

    # A loop that ran this long before dying starts the delays from the beginning again.
    HEALTHY_RUN_SECONDS = 60.0

    def __init__(self, worker) -> None:
        self.worker = worker
        self.backoff = Backoff(first=1.0, cap=30.0)

    @property
    def restarts(self) -> int:
        return self.worker.health.restarts

    def run(self) -> None:
        while not self.worker.stopping.is_set():
            started = time.monotonic()
            try:
                self.worker.run_forever()
            except Exception:
                log.exception("worker %s: its loop died", self.worker.worker_id)
            else:
                if self.worker.stopping.is_set():
                    return
                log.error("worker %s: its loop ended without being stopped", self.worker.worker_id)
            if time.monotonic() - started > self.HEALTHY_RUN_SECONDS:
                self.backoff.reset()
            delay = self.backoff.next()
            self.worker.health.restarts += 1
            log.warning("worker %s: restarting its loop in %.1f s", self.worker.worker_id, delay)
            if self.worker.stopping.wait(delay):
                return

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="textdesk-worker", daemon=True)
        thread.start()
        return thread
