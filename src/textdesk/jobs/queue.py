"""Enqueue and claim jobs.

Claiming takes a lease (``locked_until``): a worker that dies mid-job loses its
lease and another worker picks the job up. On PostgreSQL, concurrent workers
skip each other's locked rows (``FOR UPDATE SKIP LOCKED``); on SQLite the
single writer lock (transactions start IMMEDIATE) serialises claims.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from textdesk.jobs import retry
from textdesk.jobs.models import Job, JobState

LEASE = dt.timedelta(seconds=60)

# kind -> handler(job) ; handlers raise RetryLater to reschedule.
HANDLERS: dict[str, Callable[[Job], None]] = {}
# kind -> prepare(jobs): loads what a claimed batch of that kind needs in a few queries (optional).
PREPARERS: dict[str, Callable[[list[Job]], None]] = {}
# kind -> lane(job): jobs of one lane run one after another; different lanes may run in parallel threads.
LANES: dict[str, Callable[[Job], object]] = {}
# kind -> factory(worker_id): a pipeline that claims and runs that kind's jobs itself (an object with ``pump()``
# returning how many jobs it finished, and ``close()``), or None where it cannot run (e.g. on SQLite).


class Pipeline(Protocol):
    """A job kind's own continuous claimer (e.g. the send pipeline): the worker pumps it and closes it."""

    def pump(self) -> int: ...

    def close(self) -> None: ...


PIPELINES: dict[str, Callable[[str], Pipeline | None]] = {}


class RetryLater(Exception):
    """Raised by a handler to run the job again at ``run_at``."""

    def __init__(self, run_at: dt.datetime, reason: str = ""):
        super().__init__(reason)
        self.run_at = run_at
        self.reason = reason


def handler(
    kind: str, *, prepare: Callable[[list[Job]], None] | None = None, lane: Callable[[Job], object] | None = None
):
    def register(fn: Callable[[Job], None]):
        HANDLERS[kind] = fn
        if prepare is not None:
            PREPARERS[kind] = prepare
        if lane is not None:
            LANES[kind] = lane
        return fn

    return register


def pipeline(kind: str, factory: Callable[[str], Pipeline | None]) -> None:
    """Register a pipeline for ``kind``: the worker claims no job of that kind itself when the pipeline runs."""
    PIPELINES[kind] = factory


def prepare(jobs: list[Job]) -> None:
    """Let each kind's preparer load its batch at once; a failing preparer only costs speed."""
    by_kind: dict[str, list[Job]] = {}
    for job in jobs:
        by_kind.setdefault(job.kind, []).append(job)
    for kind, group in by_kind.items():
        fn = PREPARERS.get(kind)
        if fn is None:
            continue
        try:
            fn(group)
        except Exception:  # the handlers load what they need themselves
            import logging

            logging.getLogger(__name__).exception("preparing %d %s jobs failed", len(group), kind)


def lanes(jobs: list[Job]) -> list[list[Job]]:
    """The batch split into lanes, each in claim order (a job without a lane is a lane of its own)."""
    grouped: dict[object, list[Job]] = {}
    for job in jobs:
        lane_of = LANES.get(job.kind)
        key = (job.kind, lane_of(job)) if lane_of is not None else ("job", job.pk)
        grouped.setdefault(key, []).append(job)
    return list(grouped.values())


def complete(job: Job) -> None:
    """Mark ``job`` done inside the caller's transaction, together with the work it did.

    A handler that calls this makes its outcome and the job's end one commit (and saves a round trip);
    :func:`run` then leaves the job alone.
    """
    Job.objects.filter(pk=job.pk).update(
        state=JobState.DONE, attempts=job.attempts + 1, finished_at=timezone.now(), locked_until=None
    )
    job.completed = True


def enqueue(
    kind: str, payload: dict | None = None, *, run_at: dt.datetime | None = None, dedupe_key: str | None = None
) -> Job | None:
    """Add a job in the caller's transaction. Returns None when ``dedupe_key`` already exists."""
    from textdesk.live import bus

    job = Job(kind=kind, payload=payload or {}, run_at=run_at or timezone.now(), dedupe_key=dedupe_key)
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None
    bus.wake_workers_on_commit()
    return job


def wake_on_commit() -> None:
    """Wake the workers after the caller's commit (work already stored, e.g. found again after a retry)."""
    from textdesk.live import bus

    bus.wake_workers_on_commit()


def may_have_work(queryset) -> bool:
    """Whether a claim over ``queryset`` is worth its transaction.

    On SQLite every transaction begins IMMEDIATE, taking the one write lock, and a webhook writing at that moment
    waits through the busy handler's sleeps. A plain read first (WAL readers take no lock) keeps an idle pass
    from taking the lock at all. PostgreSQL's claims skip locked rows and block nobody: no extra read there.
    """
    return connection.vendor != "sqlite" or queryset.exists()


def claimable(now: dt.datetime):
    """Pending jobs that are due and not leased by a live worker."""
    return Job.objects.filter(state=JobState.PENDING, run_at__lte=now).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def claim(
    worker_id: str, limit: int = 10, kinds: list[str] | None = None, exclude: list[str] | None = None
) -> list[Job]:
    now = timezone.now()
    qs = claimable(now)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    if exclude:
        qs = qs.exclude(kind__in=exclude)
    if not may_have_work(qs):
        return []

    def take(attempt: int) -> list[Job]:
        jobs = list(qs.order_by("run_at", "id").select_for_update(skip_locked=True)[:limit])
        if not jobs:
            return []
        until = now + LEASE
        Job.objects.filter(pk__any=[j.pk for j in jobs]).update(locked_by=worker_id, locked_until=until)
        for job in jobs:
            job.locked_by, job.locked_until = worker_id, until
        return jobs

    # A claim that committed before its connection broke only leased jobs nobody runs: the lease runs out.
    return retry.in_transaction(take, ambiguous_commit_ok=True)


# A handler that lost a race with the database (deadlock, serialisation failure, a lost connection) runs again
# from its start this much later: its transaction was rolled back whole, and every handler is safe to re-run.
TRANSIENT_DELAY = dt.timedelta(seconds=1)
# Seconds the outcome of a job keeps trying to reach a database that went away for a moment.
OUTCOME_PATIENCE = 15.0


def record(job: Job, **values) -> None:
    """Write a job's outcome, through lost races and a database gone for a moment (up to ``OUTCOME_PATIENCE``)."""
    _record(job, **values)


def record_many(jobs: list[Job], *, run_at: dt.datetime, last_error: str = "") -> None:
    """Give many claimed jobs back, to run again at ``run_at`` (each counted as an attempt)."""
    from django.db.models import F

    retry.in_transaction(
        lambda attempt: Job.objects.filter(pk__any=[job.pk for job in jobs]).update(
            run_at=run_at, attempts=F("attempts") + 1, last_error=last_error, locked_by="", locked_until=None
        ),
        patience=OUTCOME_PATIENCE,
        ambiguous_commit_ok=True,
    )


def _record(job: Job, **values) -> None:
    retry.in_transaction(
        lambda attempt: Job.objects.filter(pk=job.pk).update(**values),
        patience=OUTCOME_PATIENCE,
        ambiguous_commit_ok=True,
    )


def run(job: Job, fn: Callable[[Job], None] | None = None) -> None:
    """Run one claimed job (by its kind's handler, or ``fn``) and record the outcome."""
    fn = fn or HANDLERS.get(job.kind)
    now = timezone.now()
    if fn is None:
        _record(
            job, state=JobState.FAILED, last_error=f"no handler for {job.kind!r}", finished_at=now, locked_until=None
        )
        return
    job.completed = False
    try:
        fn(job)
    except RetryLater as later:
        _record(
            job,
            run_at=later.run_at,
            attempts=job.attempts + 1,
            last_error=later.reason[:2000],
            locked_by="",
            locked_until=None,
        )
        return
    except Exception as exc:
        import logging

        if retry.transient(exc, ambiguous_commit_ok=True):
            logging.getLogger(__name__).warning("job %s lost a race with the database (%r); running it again", job, exc)
            if retry.lost_connection(exc):
                connection.close()
            _record(
                job,
                run_at=timezone.now() + TRANSIENT_DELAY,
                attempts=job.attempts + 1,
                last_error=repr(exc)[:2000],
                locked_by="",
                locked_until=None,
            )
            return
        # A bug in a handler must not kill the worker; keep the reason (the sweeper tells the message's author).
        logging.getLogger(__name__).exception("job %s failed", job)
        _record(
            job,
            state=JobState.FAILED,
            attempts=job.attempts + 1,
            last_error=repr(exc)[:2000],
            finished_at=timezone.now(),
            locked_until=None,
        )
        return
    if job.completed:
        return
    _record(job, state=JobState.DONE, attempts=job.attempts + 1, finished_at=timezone.now(), locked_until=None)


def next_due_in(max_wait: float) -> float:
    """Seconds until the earliest pending job is due (capped), so an idle worker sleeps just enough."""
    first = Job.objects.filter(state=JobState.PENDING).order_by("run_at").values_list("run_at", flat=True).first()
    if first is None:
        return max_wait
    return max(0.0, min(max_wait, (first - timezone.now()).total_seconds()))
