"""Run a transaction again from its start when the database says it lost a race (or the connection).

PostgreSQL ends a transaction it cannot serialise (``40001``) or that closes a lock cycle (``40P01``, deadlock);
SQLite answers ``database is locked`` when its busy wait runs out. Each time the transaction was rolled back
whole, so running it again from the start is the documented cure. A lost connection is retried only for work
whose commit cannot have happened yet or that is safe to run twice (``ambiguous_commit_ok``): when the link
breaks during COMMIT nobody knows whether it was kept.

Used by the send action (``messaging.outbound.send``) and by the worker (``jobs.queue`` and
``messaging.outbound.dispatch``). Never used inside an outer transaction: a rolled-back inner block cannot be
replayed alone, so there the error goes up to the outermost caller, which retries.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

log = logging.getLogger(__name__)

T = TypeVar("T")

PATIENCE = 2.0  # seconds spent retrying by default (a lost race clears in milliseconds)
BASE_DELAY = 0.02  # seconds, doubled per attempt, full jitter, at most MAX_DELAY
MAX_DELAY = 1.0

# SQLSTATE: serialization_failure, deadlock_detected, lock_not_available (lock_timeout)
_LOST_RACE = {"40001", "40P01", "55P03"}


def _sqlstate(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(getattr(cause, "sqlstate", "") or getattr(exc, "sqlstate", "") or "")


def lost_race(exc: BaseException) -> bool:
    """A deadlock, a serialisation failure, a lock timeout, or SQLite's busy lock: the transaction was rolled
    back and may simply run again."""
    if not isinstance(exc, DatabaseError):
        return False
    if _sqlstate(exc) in _LOST_RACE:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def lost_connection(exc: BaseException) -> bool:
    """The link to the database broke (server gone, connection cut, admin shutdown)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    state = _sqlstate(exc)
    if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return True
    text = str(exc).lower()
    return (
        any(
            words in text
            for words in ("connection", "server closed", "terminating", "could not receive", "ssl syscall", "eof")
        )
        and "database is locked" not in text
    )


def transient(exc: BaseException, ambiguous_commit_ok: bool = False) -> bool:
    return lost_race(exc) or (ambiguous_commit_ok and lost_connection(exc))


def in_transaction(fn: Callable[[int], T], *, patience: float = PATIENCE, ambiguous_commit_ok: bool = False) -> T:
    """``fn(attempt)`` inside its own transaction, run again from the start while the database rolls it back for
    a lost race (or, with ``ambiguous_commit_ok``, loses the connection), for up to ``patience`` seconds.

    ``attempt`` counts from 1: work that may have committed on an earlier attempt (a connection lost during
    COMMIT) looks for its own result first. Inside an outer transaction it runs once, as a savepoint, and the
    error goes up to the outermost caller.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            return fn(1)
    give_up = time.monotonic() + patience
    attempt = 0
    while True:
        attempt += 1
        try:
            with transaction.atomic():
                return fn(attempt)
        except DatabaseError as exc:
            if not transient(exc, ambiguous_commit_ok) or time.monotonic() >= give_up:
                raise
            log.warning("transaction rolled back (%s); running it again (attempt %d)", exc.__class__.__name__, attempt)
            if lost_connection(exc):
                connection.close()  # the next query opens a fresh connection
            time.sleep(random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))))
