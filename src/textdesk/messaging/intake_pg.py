"""The webhook's durable write on PostgreSQL, from the event loop itself.

A webhook carrying one whole message (the common case) is stored with one
``INSERT … ON CONFLICT DO NOTHING`` in autocommit, on an asynchronous psycopg
connection of a small per-process pool, as a prepared statement. That skips the
hop to a database thread and Django's cursor wrapper, which together cost more
CPU than the statement itself (docs/inbound.md, "Measured"). Everything else
(parts of a concatenated message, delivery reports, several messages in one
request, SQLite) takes the general path in a database thread
(``actions.intake.store_parsed``).

The guarantees are those of the general path: the answer is sent only after the
commit; a provider's retry of the same message hits the unique index and is a
no-op; the workers are woken after the commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import psycopg
from django.conf import settings
from django.db import connections

from textdesk.live import bus
from textdesk.messaging.actions import intake
from textdesk.providers.base import InboundSMS, ParsedWebhook

log = logging.getLogger(__name__)

APPLICATION_NAME = "textdesk-webhook"
# Options of Django's connection parameters that are Django's (or sync-only), not libpq's.
_NOT_FOR_LIBPQ = ("cursor_factory", "context", "pool", "server_side_binding", "isolation_level", "assume_role")


def handles(parsed: ParsedWebhook) -> bool:
    """Whether this webhook's storage can take the asynchronous path."""
    return (
        getattr(settings, "WEBHOOK_ASYNC_DB", True)
        and connections["default"].vendor == "postgresql"
        and len(parsed.inbound) == 1
        and not parsed.statuses
        and parsed.inbound[0].concat is None
    )


class _Pool:
    """At most ``size`` connections of one event loop; a broken connection is dropped, not returned."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.idle: list[psycopg.AsyncConnection] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def acquire(self) -> tuple[psycopg.AsyncConnection, bool]:
        """A connection, and whether it is new (a reused one may have broken while idle)."""
        async with self.freed:
            while not self.idle and self.opened >= self.size:
                await self.freed.wait()
            if self.idle:
                return self.idle.pop(), False
            self.opened += 1
        try:
            return await psycopg.AsyncConnection.connect(**_connection_params()), True
        except BaseException:
            await self._forget()
            raise

    async def release(self, conn: psycopg.AsyncConnection) -> None:
        if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            await conn.close()
            await self._forget()
            return
        async with self.freed:
            self.idle.append(conn)
            self.freed.notify()

    async def discard(self, conn: psycopg.AsyncConnection) -> None:
        await conn.close()
        await self._forget()

    async def _forget(self) -> None:
        async with self.freed:
            self.opened -= 1
            self.freed.notify()

    def close_all(self) -> None:
        """Close the idle connections at once (they are likely broken too, or the loop has gone)."""
        for conn in self.idle:
            conn.pgconn.finish()
        self.opened -= len(self.idle)
        self.idle.clear()


_pools: dict[int, _Pool] = {}


def _connection_params() -> dict:
    params = connections["default"].get_connection_params()
    for name in _NOT_FOR_LIBPQ:
        params.pop(name, None)
    return {**params, "autocommit": True, "application_name": APPLICATION_NAME}


def _pool() -> _Pool:
    """The pool of the running event loop (one per uvicorn process; tests may start several loops)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(id(loop))
    if pool is None:
        pool = _pools[id(loop)] = _Pool(getattr(settings, "WEBHOOK_DB_THREADS", 8))
    return pool


def close_pools() -> None:
    """Close every idle connection (a test server stopping; the test database is dropped afterwards)."""
    for pool in _pools.values():
        pool.close_all()
    _pools.clear()


async def store_single(account_id: int, sms: InboundSMS) -> intake.StoreResult:
    """Store one whole inbound message; raises ``intake.InvalidInbound`` for what cannot be stored."""
    intake.validate(sms)
    values = intake.single_message_values(account_id, sms, dt.datetime.now(dt.timezone.utc))
    pool = _pool()
    for attempt in (1, 2):
        conn, new = await pool.acquire()
        try:
            cursor = await conn.execute(intake.INSERT_MESSAGE, values, prepare=True)
            stored = cursor.rowcount == 1
        except psycopg.OperationalError:
            await pool.discard(conn)
            pool.close_all()
            # A connection that broke while idle (server restart, idle timeout): once more on a fresh one.
            # If the first attempt did commit, the second is a no-op on the unique index: stored once.
            if new or attempt == 2:
                raise
            log.info("a pooled webhook connection was broken; retrying on a new one")
            continue
        except BaseException:
            await pool.discard(conn)
            raise
        await pool.release(conn)
        break
    if stored:
        bus.get_bus().wake()  # in autocommit the statement has committed
        return intake.StoreResult(stored=1, duplicates=0)
    return intake.StoreResult(stored=0, duplicates=1)
