"""The pipelined send path (PostgreSQL): many messages in flight per worker, every guarantee of ``dispatch`` kept.

One worker thread does the database work, an event loop in a second thread does the HTTP calls:

1. **claim** (one commit for up to ``CLAIM_SIZE`` jobs): send jobs are leased with ``FOR UPDATE SKIP LOCKED``,
   their messages loaded, and each message that can go now (queued, due, outside quiet hours, account usable)
   gets its sender number's next rate-limit slot. The numbers' rows are locked in id order (``FOR NO KEY
   UPDATE``, as ``ratelimit.reserve_slot``), one statement moves every number's ``next_send_at``. A slot
   further than ``MAX_RATE_WAIT`` is not taken: the job waits in the queue until then. Anything else (an
   interrupted attempt to recover, a scheduled message, quiet hours, an unusable account, SQLite) is run by
   ``dispatch`` as before, one job at a time.
2. **open** (one commit for every message whose slot has come): the opt-out is checked again for them all in one
   query, and they move ``queued`` → ``sending`` (attempts + 1, the slot in the history) through
   ``transition_many``. Only then is the request made: the commit comes before the HTTP call, and a worker
   that dies while a message waits for its slot leaves no ``sending`` trace.
3. **post**: each opened message is handed to the event loop at once and posted on its own (aiohttp, or the
   adapter's sync ``send`` in a thread when it has no ``send_async``); nothing waits for a batch.
4. **record** (one commit for every answer that came back): the accepted messages get their provider ids,
   statuses and history through ``transition_many``, their jobs end in one statement. Refusals, retries and
   unknown outcomes go through ``dispatch``'s own handling, message by message (they are the exception).

Messages of one number keep their slot order; numbers never wait for each other.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import queue as threading_queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.db import close_old_connections, connection
from django.db.models import F, Model, Q
from django.utils import timezone

from textdesk.domain import failures
from textdesk.domain import status as st
from textdesk.jobs import queue, retry
from textdesk.jobs.models import Job, JobState
from textdesk.jobs.worker import Pass
from textdesk.messaging.models import (
    Message,
    MessagePart,
    OptOut,
    ProviderAccount,
    SenderNumber,
    UnmatchedStatusUpdate,
)
from textdesk.messaging.notify import conversation_audiences
from textdesk.messaging.outbound import dispatch, ratelimit
from textdesk.messaging.outbound.transition import transition_many
from textdesk.org.models import OrganisationSettings
from textdesk.providers import registry
from textdesk.providers.base import AccountConfig, OutboundSMS, Provider, ProviderError, SendResult

log = logging.getLogger(__name__)
_Row = TypeVar("_Row", bound=Model)

SEND_JOB = "send_message"
CLAIM_SIZE = 200  # jobs leased per claim
CAPACITY = 600  # messages a worker holds at once (waiting for their slot or at the provider)
CONCURRENCY = 200  # requests in flight to the providers
PUMP_SECONDS = 0.5  # a pass of the worker gives the pipeline this long, then runs its pollers and other jobs
CLAIM_EVERY = 0.02  # seconds between claims while the last one found less than it asked for
HTTP_TIMEOUT = {"sock_connect": 5.0, "connect": 10.0, "sock_read": 20.0}


# The worker's two threads hand the interpreter to each other at every database round trip and every answer: a
# thread back from I/O waits for the other to let go, by default up to 5 ms. A shorter interval measured 10–20%
# more messages per second in the outbound benchmark (bench/outbound.py), in every round.
SWITCH_INTERVAL = 0.0005


def factory(worker_id: str) -> SendPipeline | None:
    """The pipeline for ``send_message`` jobs where it runs (PostgreSQL), else None (``dispatch`` alone)."""
    if connection.vendor != "postgresql":
        return None
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    return SendPipeline(worker_id)


class Item:
    """One message on its way: its job, the message as loaded, its rate-limit slot."""

    __slots__ = ("job", "message", "org", "slot", "provider", "config", "outbound")

    def __init__(self, job: Job, message: Message, org: OrganisationSettings, slot: dt.datetime | None):
        self.job, self.message, self.org, self.slot = job, message, org, slot
        # set when its attempt opens: the provider's adapter, the account's settings, the message as sent
        self.provider: Provider | None = None
        self.config: AccountConfig | None = None
        self.outbound: OutboundSMS | None = None


def _fail_as_opted_out(message: Message) -> Callable[[Job], None]:
    def fail(job: Job) -> None:
        dispatch._fail(message, failures.RECIPIENT_OPTED_OUT, permanent=True, detail="opted out before sending")

    return fail


class SendPipeline:
    def __init__(self, worker_id: str, *, claim_size: int = CLAIM_SIZE, capacity: int = CAPACITY) -> None:
        self.worker_id = worker_id
        self.claim_size = claim_size
        self.capacity = capacity
        self._waiting: list[tuple[dt.datetime, int, Item]] = []  # by slot
        self._held: set[int] = set()  # message ids waiting or in flight here
        self._in_flight = 0
        self._answers: threading_queue.SimpleQueue = threading_queue.SimpleQueue()
        self._unrecorded: list[tuple[Item, object, BaseException | None]] = []
        self._order = itertools.count()
        self._last_claim = 0.0
        self._last_claim_full = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session = None
        self._tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------ the worker's side

    def pump(self, seconds: float = PUMP_SECONDS) -> Pass:
        """Claim, open, record for up to ``seconds``; returns how many jobs ended here, and whether work is left."""
        done = 0
        until = time.monotonic() + seconds
        while True:
            progressed = False
            answers = self._take_answers()
            if answers:
                done += self._record(answers)
                progressed = True
            due = self._due()
            if due:
                self._open(due)
                progressed = True
            if self._room() > 0 and (
                self._last_claim_full or time.monotonic() - self._last_claim >= CLAIM_EVERY or not self._busy()
            ):
                claimed, slow = self._claim(min(self.claim_size, self._room()))
                for job in slow:
                    queue.run(job)
                done += len(slow)
                progressed = progressed or bool(claimed or slow)
            if not self._busy() and not progressed:
                return Pass(done, more=False)
            if time.monotonic() >= until:
                return Pass(done, more=True)
            if not progressed:
                self._wait()

    def close(self) -> None:
        """Stop the event loop; what it still held is left to the job leases (and recovered like a dead worker's)."""
        if self._loop is None:
            return
        loop = self._loop

        async def shut() -> None:
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=5)
            if self._session is not None:
                await self._session.close()

        try:
            asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=10)
        except Exception:
            log.exception("closing the send pipeline")
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        # Answers that came back while closing are recorded, so no accepted message stays without its id.
        answers = self._take_answers()
        if answers:
            self._record(answers)
        self._loop = None

    def _busy(self) -> bool:
        return bool(self._waiting or self._in_flight or self._unrecorded)

    def _room(self) -> int:
        return self.capacity - len(self._held)

    def _wait(self) -> None:
        """Until an answer comes back or the next slot comes (at most 50 ms)."""
        timeout = 0.05
        if self._waiting:
            ahead = (self._waiting[0][0] - timezone.now()).total_seconds()
            timeout = max(0.0, min(timeout, ahead))
        try:
            self._unrecorded.append(self._answers.get(timeout=timeout))
        except threading_queue.Empty:
            pass

    def _take_answers(self) -> list:
        answers, self._unrecorded = self._unrecorded, []
        while True:
            try:
                answers.append(self._answers.get_nowait())
            except threading_queue.Empty:
                return answers

    def _due(self) -> list[Item]:
        now = timezone.now()
        due = []
        while self._waiting and self._waiting[0][0] <= now:
            due.append(heapq.heappop(self._waiting)[2])
        return due

    # ------------------------------------------------------------ 1. claim

    def _claim(self, limit: int) -> tuple[int, list[Job]]:
        """Lease up to ``limit`` send jobs and reserve the slots of those that can go now: (how many, jobs for
        ``dispatch``)."""
        self._last_claim = time.monotonic()
        org = OrganisationSettings.current()
        taken = retry.in_transaction(lambda attempt: self._lease(limit, org), ambiguous_commit_ok=False)
        found, ready, slow = taken
        self._last_claim_full = found >= limit
        for item in ready:
            self._held.add(item.message.pk)
            assert item.slot is not None  # a ready item has its slot
            heapq.heappush(self._waiting, (item.slot, next(self._order), item))
        return found, slow

    def _lease(self, limit: int, org: OrganisationSettings) -> tuple[int, list[Item], list[Job]]:
        now = timezone.now()
        jobs = list(
            queue.claimable(now)
            .filter(kind=SEND_JOB)
            .order_by("run_at", "id")
            .select_for_update(skip_locked=True)[:limit]
        )
        if not jobs:
            return 0, [], []
        messages = _load_messages([int(job.payload["message_id"]) for job in jobs], org)
        candidates: list[Item] = []
        slow: list[Job] = []
        seen: set[int] = set()
        for job in jobs:
            message = messages.get(int(job.payload["message_id"]))
            job.prepared = (message, org)
            if message is None or message.pk in seen or message.pk in self._held or not _can_go(message, org, now):
                slow.append(job)  # dispatch decides (recovery, schedule, quiet hours, a duplicate, a bad account)
                continue
            seen.add(message.pk)
            candidates.append(Item(job, message, org, None))
        ready, later = _reserve_slots(candidates, org, now)
        until = now + queue.LEASE
        leased = [job.pk for job in jobs if job.pk not in later]
        Job.objects.filter(pk__any=leased).update(locked_by=self.worker_id, locked_until=until)
        for job in jobs:
            job.locked_by, job.locked_until = self.worker_id, until
        by_time: dict[dt.datetime, list[int]] = {}
        for job_id, run_at in later.items():
            by_time.setdefault(run_at, []).append(job_id)
        for run_at, job_ids in by_time.items():
            # As ``RetryLater("rate limit")``: the slot was not taken; the job comes back when it is near.
            Job.objects.filter(pk__any=job_ids).update(
                run_at=run_at, attempts=F("attempts") + 1, last_error="rate limit", locked_by="", locked_until=None
            )
        return len(jobs), ready, slow

    # ------------------------------------------------------------ 2. open

    def _open(self, due: list[Item]) -> None:
        """Opt-out checked again, ``queued`` → ``sending`` for them all: one commit, then the requests go."""

        def write(attempt: int) -> tuple[set[int], list[Message]]:
            refused = _opted_out([item.message for item in due])
            details = {
                item.message.pk: f"attempt {item.message.attempts + 1}"
                + (f" {dispatch.SLOT_MARK}{item.slot.isoformat()}" if item.slot else "")
                for item in due
            }
            moved = transition_many(
                [item.message for item in due if item.message.pk not in refused],
                st.SENDING,
                expect={st.QUEUED, st.SCHEDULED},
                fields={"attempts": F("attempts") + 1},
                detail_of=details,
            )
            return refused, moved

        try:
            # A lost connection is not retried in place (the commit may have kept the attempts): the jobs run
            # again a second later through ``dispatch``, which finds each message as the last commit left it.
            refused, moved = retry.in_transaction(write)
        except Exception as exc:
            log.warning("opening %d attempts failed (%r); their jobs run again", len(due), exc)
            self._release([item.job for item in due], repr(exc))
            for item in due:
                self._held.discard(item.message.pk)
            return
        opened = {message.pk for message in moved}
        to_post = []
        for item in due:
            message = item.message
            if message.pk in opened:
                message.attempts += 1
                if message.attempts == 1:
                    message.first_attempt_started = message._textdesk_event_at  # type: ignore[attr-defined]  # set by transition
                try:
                    item.provider = registry.get_provider(message.provider_account.kind)
                    item.config = _config_of(message.provider_account)
                    item.outbound = dispatch._outbound(message)
                except Exception as exc:  # nothing left yet: unknown would be wrong, but so would a resend
                    self._answers.put((item, None, exc))
                    continue
                to_post.append(item)
            elif message.pk in refused:
                self._held.discard(message.pk)
                queue.run(item.job, _fail_as_opted_out(message))
            else:  # another job of this message opened it first: nothing to do
                self._held.discard(message.pk)
                queue.run(item.job, lambda job: None)
        if to_post:
            self._in_flight += len(to_post)
            self._post(to_post)

    def _release(self, jobs: list[Job], reason: str) -> None:
        try:
            queue.record_many(jobs, run_at=timezone.now() + queue.TRANSIENT_DELAY, last_error=reason[:2000])
        except Exception:  # the database is away: the leases run out and another pass takes the jobs
            log.warning("releasing %d jobs failed; their leases will run out", len(jobs))

    # ------------------------------------------------------------ 3. post

    def _post(self, items: list[Item]) -> None:
        loop = self._ensure_loop()
        loop.call_soon_threadsafe(self._spawn, items)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="textdesk-send-loop", daemon=True)
        self._thread.start()
        started.wait()
        self._loop = loop
        return loop

    def _spawn(self, items: list[Item]) -> None:
        for item in items:
            task = asyncio.ensure_future(self._send(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, item: Item) -> None:
        try:
            provider: Any = item.provider  # an adapter may or may not have its async form
            if hasattr(provider, "send_async"):
                result = await provider.send_async(item.config, item.outbound, self._http())
            else:  # an adapter without an async form: its sync send, in a thread of the loop's pool
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(None, _send_in_thread, provider, item)
        except BaseException as exc:  # every outcome goes back to the worker's thread
            self._answers.put((item, None, exc))
            if not isinstance(exc, Exception):
                raise
            return
        self._answers.put((item, result, None))

    def _http(self):
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=None, **HTTP_TIMEOUT),
            )
        return self._session

    # ------------------------------------------------------------ 4. record

    def _record(self, answers: list) -> int:
        """The answers that came back: accepted ones in one commit, the rest one by one."""
        accepted = [(item, result) for item, result, error in answers if error is None]
        refused = [(item, error) for item, result, error in answers if error is not None]
        if accepted:
            try:
                self._record_accepted(accepted)
            except Exception:
                # The provider has these messages: keep their answers and try again on the next pass.
                self._unrecorded += [(item, result, None) for item, result in accepted]
                self._unrecorded += [(item, None, error) for item, error in refused]
                raise
        for item, error in refused:
            self._record_refused(item, error)
        for item, _answer, _error in answers:
            self._held.discard(item.message.pk)
        self._in_flight -= len(answers)
        return len(answers)

    def _record_accepted(self, accepted: list) -> None:
        now = timezone.now()
        by_status: dict[str, list[tuple[Item, SendResult]]] = {}
        for item, result in accepted:
            new_status = result.status if st.should_apply(st.SENDING, result.status) else st.SENDING
            if new_status == st.SENDING and not getattr(item.provider, "reports_delivery", True):
                new_status = st.SENT  # no delivery reports will come: handed over is as far as we will know
            by_status.setdefault(new_status, []).append((item, result))

        def write(attempt: int) -> None:
            kept: set[int] = set()
            if attempt > 1:  # an earlier try may have committed before its connection broke
                kept = set(
                    Message.objects.filter(
                        Q(pk__in=[item.message.pk for item, _r in accepted]), ~Q(provider_message_id=None)
                    ).values_list("pk", flat=True)
                )
            moved: set[int] = set()
            for new_status, group in by_status.items():
                group = [(item, result) for item, result in group if item.message.pk not in kept]
                own = {}
                for item, result in group:
                    values = {
                        "provider_message_id": result.provider_message_id,
                        "provider_status": (result.provider_status or result.status or "")[:40],
                        "segments": result.segments or item.message.segments,
                    }
                    if new_status == st.SENT:
                        values["sent_at"] = now
                    own[item.message.pk] = values
                done = transition_many(
                    [item.message for item, _r in group],
                    new_status,
                    expect={st.SENDING},
                    where={"provider_message_id__isnull": True},
                    fields_of=own,
                    provider_status_of={
                        item.message.pk: result.provider_status or result.status or "" for item, result in group
                    },
                    detail_of={item.message.pk: f"accepted as {result.provider_message_id}" for item, result in group},
                )
                moved |= {message.pk for message in done}
                for item, result in group:
                    message = item.message
                    if message.pk not in moved:  # changed while we were at the provider: the machine decides
                        values = {**own[message.pk], "status": new_status, "updated_at": now}
                        provider_status = result.provider_status or result.status or ""
                        dispatch._record_on_changed(
                            message, values, new_status, provider_status, f"accepted as {result.provider_message_id}"
                        )
            fresh = [(item, result) for item, result in accepted if item.message.pk not in kept]
            _record_parts([(item.message, result) for item, result in fresh])
            _apply_early_reports([(item.message, result) for item, result in fresh])
            Job.objects.filter(pk__any=[item.job.pk for item, _r in accepted]).update(
                state=JobState.DONE, attempts=F("attempts") + 1, finished_at=now, locked_until=None
            )

        # The providers have these messages: their answers must be kept, through lost races and a short outage.
        retry.in_transaction(write, patience=dispatch.RECORD_PATIENCE, ambiguous_commit_ok=True)

    def _record_refused(self, item: Item, error: BaseException) -> None:
        message, org, provider = item.message, item.org, item.provider

        def handle(job: Job) -> None:
            if isinstance(error, ProviderError):
                dispatch._handle_error(message, error, org, provider)
            else:  # an adapter bug after the request may have left: never guess, never resend
                log.error("provider raised an untranslated error for message %s: %r", message.pk, error)
                dispatch._mark_unknown(message, text=repr(error)[:1000])

        queue.run(item.job, handle)


# ---------------------------------------------------------------- the pieces, as plain functions


def _send_in_thread(provider: Provider, item: Item) -> SendResult:
    """An adapter's sync send, in a thread of the event loop's pool."""
    assert item.config is not None and item.outbound is not None  # set when its attempt opened
    try:
        return provider.send(item.config, item.outbound, dispatch.http_client())
    finally:
        # A send that read the database (an adapter may) hands its connection back: these threads outlive it.
        close_old_connections()


def _load_messages(ids: list[int], org: OrganisationSettings) -> dict[int, Message]:
    """The claimed messages with what sending them reads: their numbers, accounts and conversations, each loaded
    once, and each conversation's audience (who hears about its status) worked out for them all in one query.

    Most claims are many messages to as many customers: one join of every message with its number, account,
    conversation and records (``dispatch``'s load) spent more time building model instances than sending. With
    quiet hours on, a message may need its record's country: that load is kept.
    """
    if org.quiet_hours_enabled:
        return Message.objects.select_related(*dispatch._WITH_SEND_DATA).in_bulk(ids)
    messages = _by_pk(Message, ids)
    found = messages.values()
    numbers = _by_pk(SenderNumber, {m.sender_number_id for m in found if m.sender_number_id})
    accounts = _by_pk(ProviderAccount, {m.provider_account_id for m in found if m.provider_account_id})
    audiences = conversation_audiences({m.conversation_id for m in found if m.conversation_id})
    for message in found:
        # Set only what was found: one deleted meanwhile is loaded (and missed) as before, when it is read. The
        # conversation itself is loaded only where it is read (a failure's notice, quiet hours).
        if message.sender_number_id in numbers:
            message.sender_number = numbers[message.sender_number_id]
        if message.provider_account_id in accounts:
            message.provider_account = accounts[message.provider_account_id]
        if message.conversation_id in audiences:
            message._textdesk_audience = audiences[message.conversation_id]  # type: ignore[attr-defined]  # read by transition.audience
    return messages


def _by_pk(model: type[_Row], ids: Iterable[int]) -> dict[int, _Row]:
    """``in_bulk`` with the ids as one array parameter (``__any``)."""
    return {row.pk: row for row in model._default_manager.filter(pk__any=sorted(ids)).order_by()}


def _config_of(account: ProviderAccount) -> AccountConfig:
    """The account's configuration, kept on the instance: a claim loads each account once and reads it for every
    one of its messages (``dispatch.account_config``'s cache key alone cost more)."""
    config = getattr(account, "_textdesk_config", None)
    if config is None:
        config = dispatch.account_config(account)
        account._textdesk_config = config  # type: ignore[attr-defined]  # this claim's own instance
    return config


def _can_go(message: Message, org: OrganisationSettings, now: dt.datetime) -> bool:
    """Whether the message is a plain send now (anything else is ``dispatch``'s to decide)."""
    if message.status not in (st.QUEUED, st.SCHEDULED) or not message.sender_number_id:
        return False
    if message.send_after and now < message.send_after:
        return False
    if dispatch.quiet_until(message, org, now) > now:
        return False
    account = message.provider_account
    if not account.is_active:
        return False
    try:
        _config_of(account)
        registry.get_provider(account.kind)
    except Exception:
        return False
    return True


def _reserve_slots(
    items: list[Item], org: OrganisationSettings, now: dt.datetime
) -> tuple[list[Item], dict[int, dt.datetime]]:
    """Each item's rate-limit slot on its number, in claim order: (items with a slot, the jobs that must wait,
    by id, with the time to come back: the first slot not taken).

    Inside the caller's transaction: the numbers' rows are locked in id order and moved on in one statement.
    """
    by_number: dict[int, list[Item]] = {}
    for item in items:
        by_number.setdefault(item.message.sender_number_id or 0, []).append(item)
    if not by_number:
        return [], {}
    locked = {
        number.pk: number.next_send_at
        for number in SenderNumber.objects.select_for_update(no_key=True)
        .filter(pk__any=sorted(by_number))
        .order_by("pk")
        .only("id", "next_send_at")
    }
    ready: list[Item] = []
    later: dict[int, dt.datetime] = {}
    moved: dict[int, dt.datetime] = {}
    for number_id, group in by_number.items():
        if number_id not in locked:  # deleted meanwhile: dispatch tells, on the next try
            later |= {item.job.pk: now + queue.TRANSIENT_DELAY for item in group}
            continue
        number = group[0].message.sender_number
        assert number is not None  # a message without a number is never claimed for sending
        rate = ratelimit.rate_of(number, org)
        interval = dt.timedelta(seconds=1.0 / rate) if rate and rate > 0 else dt.timedelta(0)
        slot = max(locked[number_id] or now, now)
        for item in group:
            if slot - now > dispatch.MAX_RATE_WAIT:
                later[item.job.pk] = slot  # not taken: the job comes back when it is near
                continue
            item.slot = slot
            ready.append(item)
            slot += interval
        moved[number_id] = slot
    if moved:
        table = connection.ops.quote_name(SenderNumber._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET next_send_at = v.at FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at) "
                f"WHERE {table}.id = v.id",
                [list(moved), list(moved.values())],
            )
    return ready, later


def _opted_out(messages: list[Message]) -> set[int]:
    """The messages whose recipient opted out of their number or of every number (one query)."""
    if not messages:
        return set()
    from textdesk.messaging.actions.consent import ALL_NUMBERS

    rows = set(
        OptOut.objects.filter(
            customer_e164__any=sorted({m.to_number for m in messages}),
            scope__any=sorted({m.from_number for m in messages} | {ALL_NUMBERS}),
            is_opted_out=True,
        ).values_list("customer_e164", "scope")
    )
    if not rows:
        return set()
    return {m.pk for m in messages if (m.to_number, m.from_number) in rows or (m.to_number, ALL_NUMBERS) in rows}


def _record_parts(accepted: list) -> None:
    parts = [
        MessagePart(
            message=message,
            provider_account_id=message.provider_account_id,
            provider_message_id=part_id,
            number=number,
            status=message.status,
        )
        for message, result in accepted
        if len(result.part_ids) >= 2
        for number, part_id in enumerate(result.part_ids, start=1)
    ]
    if parts:
        MessagePart.objects.bulk_create(parts)


def _apply_early_reports(accepted: list) -> None:
    """Delivery reports that arrived before their message's id (one query to find them, rare to have any)."""
    from textdesk.messaging.outbound.reports import apply_pending_in_transaction

    wanted = {}
    for message, result in accepted:
        for provider_id in (result.provider_message_id, *result.part_ids):
            wanted[(message.provider_account_id, provider_id)] = message
    found = set(
        UnmatchedStatusUpdate.objects.filter(
            provider_message_id__in={provider_id for _account, provider_id in wanted}
        ).values_list("provider_account_id", "provider_message_id")
    )
    for message in {wanted[key].pk: wanted[key] for key in found if key in wanted}.values():
        current = apply_pending_in_transaction(message)
        message.status = current.status
