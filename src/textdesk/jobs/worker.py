"""The queue worker: runs due jobs and every registered poller, sleeps until woken or due.

Pollers are functions ``poll(worker_id) -> int`` (the number of items handled);
other modules register them (e.g. routing of inbound messages). A worker wakes
on the bus's wake channel, so work published after a commit starts at once;
otherwise it polls every ``idle_wait`` seconds, which bounds the delay when a
wake-up is lost.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from django.db import close_old_connections

from textdesk.jobs import queue
from textdesk.live import bus

log = logging.getLogger(__name__)

POLLERS: list[Callable[[str], int]] = []


def poller(fn: Callable[[str], int]) -> Callable[[str], int]:
    if fn not in POLLERS:
        POLLERS.append(fn)
    return fn


def load_handlers() -> None:
    """Import the modules that register job handlers and pollers."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("tasks")


def run_once(worker_id: str, batch: int = 20) -> int:
    """One pass over pollers and due jobs; returns how many items were handled."""
    done = 0
    for poll in list(POLLERS):
        done += poll(worker_id)
    for job in queue.claim(worker_id, limit=batch):
        queue.run(job)
        done += 1
    return done


class Worker:
    def __init__(self, name: str | None = None, idle_wait: float = 0.5) -> None:
        self.worker_id = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.idle_wait = idle_wait
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run_forever(self) -> None:
        load_handlers()
        log.info("worker %s started", self.worker_id)
        with bus.get_bus().subscribe([bus.WAKE_CHANNEL]) as wake:
            while not self.stopping.is_set():
                close_old_connections()
                try:
                    handled = run_once(self.worker_id)
                except Exception:
                    log.exception("worker pass failed; retrying")
                    handled = 0
                if handled:
                    continue
                # Sleep until woken, or until the next job is due, or the idle poll.
                wake.get(timeout=queue.next_due_in(self.idle_wait) or 0.01)
        log.info("worker %s stopped", self.worker_id)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="textdesk-worker", daemon=True)
        thread.start()
        return thread
