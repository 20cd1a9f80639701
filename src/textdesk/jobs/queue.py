"""Enqueue and claim jobs.

Claiming takes a lease (``locked_until``): a worker that dies mid-job loses its
lease and another worker picks the job up. On PostgreSQL, concurrent workers
skip each other's locked rows (``FOR UPDATE SKIP LOCKED``); on SQLite the
single writer lock (transactions start IMMEDIATE) serialises claims.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from textdesk.jobs.models import Job, JobState

LEASE = dt.timedelta(seconds=60)

# kind -> handler(job) ; handlers raise RetryLater to reschedule.
HANDLERS: dict[str, Callable[[Job], None]] = {}


class RetryLater(Exception):
    """Raised by a handler to run the job again at ``run_at``."""

    def __init__(self, run_at: dt.datetime, reason: str = ""):
        super().__init__(reason)
        self.run_at = run_at
        self.reason = reason


def handler(kind: str):
    def register(fn: Callable[[Job], None]):
        HANDLERS[kind] = fn
        return fn

    return register


def enqueue(kind: str, payload: dict | None = None, *, run_at: dt.datetime | None = None,
            dedupe_key: str | None = None) -> Job | None:
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


def claim(worker_id: str, limit: int = 10, kinds: list[str] | None = None) -> list[Job]:
    now = timezone.now()
    with transaction.atomic():
        qs = Job.objects.filter(state=JobState.PENDING, run_at__lte=now).filter(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now)
        )
        if kinds:
            qs = qs.filter(kind__in=kinds)
        jobs = list(qs.order_by("run_at", "id").select_for_update(skip_locked=True)[:limit])
        if not jobs:
            return []
        until = now + LEASE
        Job.objects.filter(pk__in=[j.pk for j in jobs]).update(locked_by=worker_id, locked_until=until)
        for job in jobs:
            job.locked_by, job.locked_until = worker_id, until
    return jobs


def run(job: Job) -> None:
    """Run one claimed job and record the outcome."""
    fn = HANDLERS.get(job.kind)
    now = timezone.now()
    if fn is None:
        Job.objects.filter(pk=job.pk).update(
            state=JobState.FAILED, last_error=f"no handler for {job.kind!r}", finished_at=now, locked_until=None
        )
        return
    try:
        fn(job)
    except RetryLater as retry:
        Job.objects.filter(pk=job.pk).update(
            run_at=retry.run_at, attempts=job.attempts + 1, last_error=retry.reason[:2000],
            locked_by="", locked_until=None,
        )
        return
    except Exception as exc:  # a bug in a handler must not kill the worker; keep the reason
        import logging

        logging.getLogger(__name__).exception("job %s failed", job)
        Job.objects.filter(pk=job.pk).update(
            state=JobState.FAILED, attempts=job.attempts + 1, last_error=repr(exc)[:2000],
            finished_at=timezone.now(), locked_until=None,
        )
        return
    Job.objects.filter(pk=job.pk).update(
        state=JobState.DONE, attempts=job.attempts + 1, finished_at=timezone.now(), locked_until=None
    )


def next_due_in(max_wait: float) -> float:
    """Seconds until the earliest pending job is due (capped), so an idle worker sleeps just enough."""
    first = Job.objects.filter(state=JobState.PENDING).order_by("run_at").values_list("run_at", flat=True).first()
    if first is None:
        return max_wait
    return max(0.0, min(max_wait, (first - timezone.now()).total_seconds()))
