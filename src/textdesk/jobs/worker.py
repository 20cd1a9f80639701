"""The queue worker: runs due jobs and every registered poller, sleeps until woken or due.

Pollers are functions ``poll(worker_id) -> int`` (the number of items handled);
other modules register them (e.g. routing of inbound messages). A worker wakes
on the bus's wake channel, so work published after a commit starts at once;
otherwise it polls every ``idle_wait`` seconds, which bounds the delay when a
wake-up is lost. After a pass that handled something the worker goes straight on
only if work was left (a poller returned :class:`Pass` with ``more``, or a plain
count, which is taken to mean "maybe"; or a full batch of jobs); otherwise it
waits for the next wake-up, which every stored item publishes after its commit.

With ``threads`` > 1 a worker runs the lanes of each claimed batch in a small thread pool
(e.g. the messages of different sender numbers at the same time). Each pool thread uses a
database connection of its own while it runs a lane; the guarantees that hold between worker
processes (job leases, conditional state changes, row-locked rate-limit slots) hold between
threads just the same.

Every thread hands its connection back when its unit of work ends (the loop after each pass, a pool
thread after each lane), so no connection stays borrowed by a thread that waits. On PostgreSQL
``textdesk worker`` sizes its process's pool to ``threads`` + 1 connections, what its loop and its
send threads can use at once (:func:`size_connection_pool`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections

from textdesk.jobs import queue, supervisor
from textdesk.live import bus

log = logging.getLogger(__name__)

POLLERS: list[Callable[[str], int]] = []


class Pass(int):
    """How many items a pass handled (an ``int``), and whether it left work behind (``more``: it stopped at its
    batch size). A pass that found less than a batch took everything there was: the next item's wake-up will come."""

    more: bool

    def __new__(cls, handled: int, more: bool) -> Pass:
        done = super().__new__(cls, handled)
        done.more = more
        return done


def poller(fn: Callable[[str], int]) -> Callable[[str], int]:
    if fn not in POLLERS:
        POLLERS.append(fn)
    return fn


def load_handlers() -> None:
    """Import the modules that register job handlers and pollers."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("tasks")


def connections_needed(threads: int) -> int:
    """Database connections a worker with ``threads`` uses at once at most: its loop's, and one per send thread
    (a worker of one thread sends on its loop: one to spare)."""
    return max(1, threads) + 1


def size_connection_pool(threads: int) -> None:
    """Size this process's PostgreSQL pool for a worker with ``threads`` (call it before the first query), unless
    ``TEXTDESK_DB_POOL_SIZE`` chose the size; a smaller chosen size makes send threads take turns."""
    from textdesk import config

    database = connections["default"]
    pool = database.settings_dict["OPTIONS"].get("pool")
    if not pool:  # SQLite, or the pool turned off
        return
    needed = connections_needed(threads)
    if config.db_pool_size_is_explicit():
        if pool["max_size"] < needed:
            log.warning(
                "TEXTDESK_DB_POOL_SIZE=%s is below the %s connections a worker with %s threads can use at once: "
                "its threads will wait for each other's",
                pool["max_size"],
                needed,
                threads,
            )
        return
    database.close_pool()  # type: ignore[attr-defined]  # PostgreSQL's; a pool made with the old size is not kept
    pool["max_size"] = needed


def _run_lane(lane: list) -> None:
    try:
        for job in lane:
            queue.run(job)
    finally:
        close_old_connections()  # the lane is done: its connection goes back (or is dropped if it broke)


def start_pipelines(worker_id: str) -> dict[str, queue.Pipeline]:
    """The pipelines registered for job kinds (``queue.pipeline``) that can run here, by kind."""
    started: dict[str, queue.Pipeline] = {}
    for kind, factory in queue.PIPELINES.items():
        made = factory(worker_id)
        if made is not None:
            started[kind] = made
    return started


def close_pipelines(pipelines: dict[str, queue.Pipeline] | None) -> None:
    for made in (pipelines or {}).values():
        made.close()


def run_once(
    worker_id: str,
    batch: int = 20,
    pool: ThreadPoolExecutor | None = None,
    pipelines: dict[str, queue.Pipeline] | None = None,
) -> Pass:
    """One pass over pollers, pipelines and due jobs; returns how many items were handled (a :class:`Pass`).

    The claimed batch is prepared at once (see ``queue.prepare``) and split into lanes; with a ``pool``
    the lanes run in parallel, each in its own thread, otherwise one after another. Jobs of a kind with a
    running pipeline are left to it (it claims them itself, continuously, for up to a short while per pass).
    """
    done, more = 0, False
    for poll in list(POLLERS):
        handled = poll(worker_id)
        done += handled
        more = more or getattr(handled, "more", handled > 0)
    for made in (pipelines or {}).values():
        handled = made.pump()
        done += handled
        more = more or getattr(handled, "more", handled > 0)
    jobs = queue.claim(worker_id, limit=batch, exclude=list(pipelines or ()))
    if not jobs:
        return Pass(done, more)
    queue.prepare(jobs)
    lanes = queue.lanes(jobs)
    if pool is None or len(lanes) == 1:
        for lane in lanes:
            for job in lane:
                queue.run(job)
    else:
        for future in [pool.submit(_run_lane, lane) for lane in lanes]:
            future.result()
    return Pass(done + len(jobs), more or len(jobs) >= batch)


def _close_thread_connections(pool: ThreadPoolExecutor, threads: int) -> None:
    """Close the database connection of every pool thread (each thread owns its own)."""
    barrier = threading.Barrier(threads)

    def close() -> None:
        try:
            barrier.wait(timeout=5)  # one task per thread: nobody returns before all have started
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    for future in [pool.submit(close) for _ in range(threads)]:
        future.result()


def _drain(wake) -> None:
    """Take every wake-up already waiting: one pass serves them all. (Under load a wake-up arrives every few
    milliseconds; taken one per pass, they made thousands of empty passes, each a few queries.)"""
    for _ in range(10_000):
        if wake.get(timeout=0) is None:
            return


class Worker:
    def __init__(self, name: str | None = None, idle_wait: float = 0.5, threads: int = 1, batch: int = 20) -> None:
        self.worker_id = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.idle_wait = idle_wait
        self.threads = max(1, threads)
        self.batch = batch
        self.stopping = threading.Event()
        self.health = supervisor.Health(self.worker_id, self.stopping)

    def stop(self) -> None:
        self.stopping.set()

    def run_forever(self) -> None:
        load_handlers()
        log.info("worker %s started", self.worker_id)
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="textdesk-send") if self.threads > 1 else None
        pipelines = start_pipelines(self.worker_id)
        try:
            with bus.get_bus().subscribe([bus.WAKE_CHANNEL]) as wake:
                while not self.stopping.is_set():
                    try:
                        handled = run_once(self.worker_id, batch=self.batch, pool=pool, pipelines=pipelines)
                        idle = None if handled.more else queue.next_due_in(self.idle_wait) or 0.01
                    except Exception:  # the database is unreachable (or a bug): log, back off, try again
                        connections.close_all()  # a broken connection is not reused by the next pass
                        self.health.failed()
                        continue
                    self.health.passed()  # heartbeat
                    # The pass is over: its connection goes back to the pool (or, without one, is kept until it
                    # grows old or breaks) rather than held while the worker sleeps.
                    close_old_connections()
                    if idle is None:
                        continue
                    # Sleep until woken, or until the next job is due, or the idle poll. With Redis unreachable
                    # no wake-up comes: the idle poll alone paces the worker.
                    if wake.get(timeout=idle) is not None:
                        _drain(wake)
        finally:
            close_pipelines(pipelines)
            if pool is not None:
                _close_thread_connections(pool, self.threads)
                pool.shutdown()
            # The loop's own, last (closing the pipeline records its last answers): not held while a supervisor
            # waits to start the loop again.
            connections.close_all()
        log.info("worker %s stopped", self.worker_id)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="textdesk-worker", daemon=True)
        thread.start()
        return thread
