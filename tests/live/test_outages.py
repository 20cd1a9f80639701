"""A worker process outlives PostgreSQL and Redis outages: it backs off, resumes and keeps doing its work.

The worker is the real ``textdesk worker`` command in its own process; it reaches PostgreSQL and Redis through
local TCP proxies that the tests cut (every connection reset, new ones refused) and restore.
"""

from __future__ import annotations

import time

import pytest

from tests.live.conftest import database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _job() -> int:
    """A job for the worker; it has no handler, so a worker that ran it marks it failed with that reason."""
    from django.utils import timezone

    from textdesk.jobs.models import Job

    return Job.objects.create(kind="test.outage", payload={}, run_at=timezone.now()).pk


def _ran(job_id: int) -> bool:
    from textdesk.jobs.models import Job, JobState

    return Job.objects.filter(pk=job_id).exclude(state=JobState.PENDING).exists()


def _heartbeat(name: str):
    from textdesk.jobs.models import WorkerHeartbeat

    return WorkerHeartbeat.objects.filter(name=name).first()


def test_worker_survives_a_5_second_postgresql_cut(postgres_proxy, start_worker):
    worker = start_worker(database_url(via_port=postgres_proxy.port))
    assert wait_for(lambda: _heartbeat(worker.name), timeout=30), worker.log()
    first = _job()
    assert wait_for(lambda: _ran(first), timeout=15), worker.log()

    postgres_proxy.cut()
    during = _job()  # stored directly: the worker cannot see it until the database is back
    time.sleep(5)
    assert worker.alive(), worker.log()
    assert not _ran(during)
    restored_at = time.monotonic()
    postgres_proxy.restore()

    assert wait_for(lambda: _ran(during), timeout=30), worker.log()
    after = _job()
    assert wait_for(lambda: _ran(after), timeout=15), worker.log()
    beat_before = _heartbeat(worker.name).beat_at
    assert wait_for(lambda: _heartbeat(worker.name).beat_at > beat_before, timeout=15)  # heartbeats go on
    assert worker.alive()
    log = worker.log()
    assert "pass failed" in log and "resumed after" in log, log
    assert time.monotonic() - restored_at < 60
    assert _heartbeat(worker.name).restarts == 0  # backed off inside its loop: the loop never died


def test_worker_starts_with_redis_down_and_survives_an_8_second_redis_cut(postgres_proxy, redis_proxy, start_worker):
    from urllib.parse import urlparse

    from tests.live.conftest import REDIS_URL

    redis_db = urlparse(REDIS_URL).path.lstrip("/") or "0"
    redis_proxy.cut()  # Redis is down when the worker starts
    worker = start_worker(database_url(), redis=f"redis://127.0.0.1:{redis_proxy.port}/{redis_db}")
    assert wait_for(lambda: _heartbeat(worker.name), timeout=30), worker.log()
    first = _job()
    assert wait_for(lambda: _ran(first), timeout=15), worker.log()  # no wake-up: the idle poll finds it

    redis_proxy.restore()
    assert wait_for(lambda: redis_proxy.connections > 0, timeout=30), worker.log()  # it reconnected by itself
    redis_proxy.cut()
    during = _job()
    assert wait_for(lambda: _ran(during), timeout=15), worker.log()  # works on through the outage
    time.sleep(8)
    assert worker.alive(), worker.log()
    redis_proxy.restore()
    connections = redis_proxy.connections
    assert wait_for(lambda: redis_proxy.connections > connections, timeout=30), worker.log()
    after = _job()
    assert wait_for(lambda: _ran(after), timeout=15), worker.log()
    assert worker.alive()
    assert "Redis unreachable" in worker.log()
