"""The webhook's durable write on PostgreSQL, from the event loop itself.

A webhook carrying one whole message (the common case) is stored with an
``INSERT … ON CONFLICT DO NOTHING`` in autocommit, on an asynchronous psycopg
connection of a small per-process pool, as a prepared statement. That skips the
hop to a database thread and Django's cursor wrapper, which together cost more
CPU than the statement itself (docs/inbound.md, "Measured"). Everything else
(parts of a concatenated message, delivery reports, several messages in one
request, SQLite) takes the general path in a database thread
(``actions.intake.store_parsed``).

Under load the webhooks of one process share their statements (group commit):
while ``WEBHOOK_WRITERS`` statements are in flight, the messages that arrive wait
and go together in the next one (up to ``WEBHOOK_BATCH_ROWS``), a row each. A
statement and a commit cost about as much for one row as for a dozen, in
PostgreSQL and in this process. When the process is not busy, a message is
written at once, alone: nothing waits for company.

The guarantees are those of the general path: each answer is sent only after the
commit of the statement that holds its message; a provider's retry of the same
message, even within one statement, hits the unique index and is a no-op; the
workers are woken after the commit. A statement that fails as a whole for one
bad row is retried a row at a time, so only that row's webhook fails.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import psycopg
from django.conf import settings
from django.db import connections

from textdesk.live import bus
from textdesk.messaging.inbound import intake
from textdesk.providers.base import InboundSMS, ParsedWebhook

log = logging.getLogger(__name__)

APPLICATION_NAME = "textdesk-webhook"
# Options of Django's connection parameters that are Django's (or sync-only), not libpq's.
_NOT_FOR_LIBPQ = ("cursor_factory", "context", "pool", "server_side_binding", "isolation_level", "assume_role")


def handles(parsed: ParsedWebhook) -> bool:
    """Whether this webhook's storage can take the asynchronous path."""
    return (
        connections["default"].vendor == "postgresql"
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
    _writers.clear()


INSERT_MANY = (
    f"INSERT INTO {intake.MESSAGE_TABLE} ({', '.join([*intake.MESSAGE_COLUMNS, *intake.FIXED_COLUMNS])}) "
    "SELECT account, from_number, to_number, body, segments, provider_status, provider_message_id, received, received, "
    f"{', '.join(intake.FIXED_COLUMNS.values())} "
    "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::int[], %s::text[], %s::text[],"
    " %s::timestamptz[])"
    " AS v(account, from_number, to_number, body, segments, provider_status, provider_message_id, received) "
    "ON CONFLICT (provider_account_id, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING "
    "RETURNING provider_account_id, provider_message_id"
)


class _Writer:
    """The webhook writes of one event loop: at most ``writers`` statements at a time, each taking every message
    waiting (up to ``rows``); a message that finds a writer free is written at once."""

    def __init__(self, pool: _Pool, writers: int, rows: int) -> None:
        self.pool = pool
        self.writers = max(1, writers)
        self.rows = max(1, rows)
        self.busy = 0
        self.waiting: list[tuple[list, asyncio.Future]] = []
        self.tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to its tasks

    async def store(self, values: list) -> bool:
        """Whether the message was new (False: a retry of one stored before). Returns after its commit."""
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((values, done))
        if self.busy < self.writers:
            self.busy += 1
            task = asyncio.get_running_loop().create_task(self._write_while_waiting())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await done

    async def _write_while_waiting(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[: self.rows], self.waiting[self.rows :]
                try:
                    results = await self._write(batch)
                except Exception as failed:  # each webhook answers 503; the provider retries
                    results = [failed] * len(batch)
                except BaseException:  # this task is cancelled (its loop is closing): nobody may wait in vain
                    for _, done in batch + self.waiting:
                        done.cancel()
                    self.waiting = []
                    raise
                for (_, done), result in zip(batch, results, strict=False):
                    if done.done():
                        continue  # its request was cancelled (the client left): the row is written all the same
                    if isinstance(result, BaseException):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
        finally:
            self.busy -= 1

    async def _write(self, batch: list[tuple[list, asyncio.Future]]) -> list[bool | BaseException]:
        if len(batch) == 1:
            return [await _execute(self.pool, intake.INSERT_MESSAGE, batch[0][0], many=False)]
        rows = [values for values, _ in batch]
        columns = [
            list(column) for column in zip(*rows, strict=False)
        ]  # the last two (created_at, updated_at) are one value
        try:
            inserted = await _execute(self.pool, INSERT_MANY, columns[:-1], many=True)
        except psycopg.OperationalError:
            raise  # the database, not a row: every webhook of the batch answers 503
        except psycopg.Error:
            # One bad row fails the whole statement: each row alone, so only its own webhook fails.
            log.warning("a batch of %s webhook messages failed; writing them one by one", len(batch), exc_info=True)
            results: list[bool | BaseException] = []
            for values in rows:
                try:
                    results.append(await _execute(self.pool, intake.INSERT_MESSAGE, values, many=False))
                except Exception as failed:
                    results.append(failed)
            return results
        # A message written twice in one batch (a provider's quick retry) is new only the first time.
        new = set(inserted)
        results = []
        for values in rows:
            key = (values[0], values[6])
            results.append(key in new)
            new.discard(key)
        return results


async def _execute(pool: _Pool, sql: str, params: list, many: bool):
    """Run one webhook statement on a pooled connection: with ``many``, the (account, message id) pairs inserted,
    else whether its one row was inserted."""
    for attempt in (1, 2):
        conn, new = await pool.acquire()
        try:
            cursor = await conn.execute(sql, params, prepare=True)
            result = [tuple(row) for row in await cursor.fetchall()] if many else cursor.rowcount == 1
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
        return result
    raise AssertionError("unreachable")


_writers: dict[int, _Writer] = {}


def _writer() -> _Writer:
    """The writer of the running event loop."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(id(loop))
    if writer is None:
        writer = _writers[id(loop)] = _Writer(
            _pool(), getattr(settings, "WEBHOOK_WRITERS", 2), getattr(settings, "WEBHOOK_BATCH_ROWS", 64)
        )
    return writer


async def store_single(account_id: int, sms: InboundSMS) -> intake.StoreResult:
    """Store one whole inbound message; raises ``intake.InvalidInbound`` for what cannot be stored."""
    intake.validate(sms)
    values = intake.single_message_values(account_id, sms, dt.datetime.now(dt.UTC))
    if values[6] is None:  # no provider message id: nothing to tell a batch's rows apart by
        stored = await _execute(_pool(), intake.INSERT_MESSAGE, values, many=False)
    else:
        stored = await _writer().store(values)
    if stored:
        bus.get_bus().wake()  # the statement has committed (autocommit)
        return intake.StoreResult(stored=1, duplicates=0)
    return intake.StoreResult(stored=0, duplicates=1)
