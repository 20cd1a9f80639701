"""The webhook's durable write on PostgreSQL, from the event loop itself.

A webhook carrying one whole message (the common case) is stored with an
``INSERT … ON CONFLICT DO NOTHING`` in autocommit, on an asynchronous psycopg
connection of a small per-process pool (``psycopg_pool.AsyncConnectionPool``, at
most ``WEBHOOK_DB_THREADS`` connections), as a prepared statement. That skips the
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
import weakref

import psycopg
from django.conf import settings
from django.db import connections
from psycopg_pool import AsyncConnectionPool

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


class _LoopIntake:
    """The webhook writes of one event loop: its pool of asynchronous connections and its group-commit writer.

    The pool keeps one connection while the process is quiet and opens more, up to ``WEBHOOK_DB_THREADS``, while
    webhooks wait for one. Every connection it opens is remembered (weakly), so that they can still be closed
    when the loop that owned them has gone: a pool can only be closed by awaiting it on its own loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.opened: weakref.WeakSet[psycopg.AsyncConnection] = weakref.WeakSet()
        self.pool: AsyncConnectionPool = AsyncConnectionPool(
            kwargs=_connection_params(),
            min_size=1,
            max_size=max(1, getattr(settings, "WEBHOOK_DB_THREADS", 8)),
            timeout=getattr(settings, "DB_POOL_TIMEOUT", 5),
            name=APPLICATION_NAME,
            configure=self._remember,
            open=False,
        )
        self.writer = _Writer(
            self.pool, getattr(settings, "WEBHOOK_WRITERS", 2), getattr(settings, "WEBHOOK_BATCH_ROWS", 64)
        )

    async def _remember(self, conn: psycopg.AsyncConnection) -> None:
        self.opened.add(conn)

    async def close(self) -> None:
        """Close the pool on its own loop: idle connections at once, those in use when their statement is done."""
        await self.pool.close()

    def close_without_loop(self) -> None:
        """End every connection this pool opened, without its loop (it has stopped, or is about to)."""
        for conn in list(self.opened):
            if not conn.closed:
                conn.pgconn.finish()  # libpq's own close: tells the server, needs no event loop
        self.opened.clear()


_intakes: dict[int, _LoopIntake] = {}


def _connection_params() -> dict:
    params = connections["default"].get_connection_params()
    for name in _NOT_FOR_LIBPQ:
        params.pop(name, None)
    return {**params, "autocommit": True, "application_name": APPLICATION_NAME}


def _intake() -> _LoopIntake:
    """The webhook writes of the running event loop (one per uvicorn process; tests may start several loops)."""
    loop = asyncio.get_running_loop()
    loop_intake = _intakes.get(id(loop))
    if loop_intake is None:  # it holds its loop: no other loop gets that id while it is here
        loop_intake = _intakes[id(loop)] = _LoopIntake(loop)
    return loop_intake


async def aclose_pool() -> None:
    """Close the running loop's webhook connections (at server shutdown, on the loop that used them)."""
    loop_intake = _intakes.pop(id(asyncio.get_running_loop()), None)
    if loop_intake is not None:
        await loop_intake.close()


def close_pools() -> None:
    """Close the webhook connections of every loop, from outside them: a loop still running in another thread
    closes its pool itself; the connections of a loop that has stopped are ended without it. (A test server
    that stopped without closing its pool; the test database is dropped afterwards, which PostgreSQL refuses
    while anyone is connected.)"""
    leftover = list(_intakes.values())
    _intakes.clear()
    for loop_intake in leftover:
        loop = loop_intake.loop
        if loop.is_running() and not _running_here(loop):
            try:
                asyncio.run_coroutine_threadsafe(loop_intake.close(), loop).result(timeout=10)
                continue
            except Exception:
                log.warning("closing the webhook pool on its loop failed; ending its connections", exc_info=True)
        loop_intake.close_without_loop()


def _running_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


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

    def __init__(self, pool: AsyncConnectionPool, writers: int, rows: int) -> None:
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


async def _execute(pool: AsyncConnectionPool, sql: str, params: list, many: bool):
    """Run one webhook statement on a pooled connection: with ``many``, the (account, message id) pairs inserted,
    else whether its one row was inserted."""
    for attempt in (1, 2):
        # None free within the pool's timeout: PoolTimeout, an OperationalError too (the webhook answers 503).
        conn = await pool.getconn()
        try:
            cursor = await conn.execute(sql, params, prepare=True)
            return [tuple(row) for row in await cursor.fetchall()] if many else cursor.rowcount == 1
        except psycopg.OperationalError:
            # A connection that broke while idle (server restart, idle timeout): once more on another one.
            # If the first attempt did commit, the second is a no-op on the unique index: stored once.
            if not conn.broken or attempt == 2:
                raise
            log.info("a pooled webhook connection was broken; retrying on another one")
        finally:
            await pool.putconn(conn)  # the pool replaces a broken one, and one left mid-statement (cancelled)
        await pool.check()  # the idle ones most likely broke with it: dropped, so the retry gets a sound one
    raise AssertionError("unreachable")


def _writer() -> _Writer:
    """The writer of the running event loop."""
    return _intake().writer


async def store_single(account_id: int, sms: InboundSMS) -> intake.StoreResult:
    """Store one whole inbound message; raises ``intake.InvalidInbound`` for what cannot be stored."""
    intake.validate(sms)
    values = intake.single_message_values(account_id, sms, dt.datetime.now(dt.UTC))
    loop_intake = _intake()
    await loop_intake.pool.open()  # once per loop: starts the pool's tasks on it (a no-op once open)
    if values[6] is None:  # no provider message id: nothing to tell a batch's rows apart by
        stored = await _execute(loop_intake.pool, intake.INSERT_MESSAGE, values, many=False)
    else:
        stored = await loop_intake.writer.store(values)
    if stored:
        bus.get_bus().wake()  # the statement has committed (autocommit)
        return intake.StoreResult(stored=1, duplicates=0)
    return intake.StoreResult(stored=0, duplicates=1)
