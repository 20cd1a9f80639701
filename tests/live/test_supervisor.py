"""A worker whose loop dies is started again by its supervisor, and /healthz reports every worker's heartbeat."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.live.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_dead_worker_loop_is_restarted_and_works_on(monkeypatch):
    from django.utils import timezone

    from textdesk.jobs import supervisor as supervisor_module
    from textdesk.jobs import worker as worker_module
    from textdesk.jobs.models import Job, JobState, WorkerHeartbeat

    starts = []

    def load_handlers_failing_once():
        starts.append(1)
        if len(starts) == 1:
            raise RuntimeError("a bug while starting")

    monkeypatch.setattr(worker_module, "load_handlers", load_handlers_failing_once)
    monkeypatch.setattr(supervisor_module.Backoff, "next", lambda self: 0.05)
    worker = worker_module.Worker(name="supervised", idle_wait=0.1)
    supervisor = supervisor_module.Supervisor(worker)
    thread = supervisor.start_in_thread()
    try:
        job = Job.objects.create(kind="test.supervised", payload={}, run_at=timezone.now())
        assert wait_for(lambda: Job.objects.filter(pk=job.pk, state=JobState.FAILED).exists(), timeout=10)
        assert len(starts) == 2 and supervisor.restarts == 1
        assert wait_for(lambda: WorkerHeartbeat.objects.filter(name="supervised", restarts=1).exists(), timeout=10)
    finally:
        worker.stop()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.django_db
def test_healthz_reports_database_redis_and_each_workers_heartbeat(client):
    from django.utils import timezone

    from textdesk.jobs.models import WorkerHeartbeat

    now = timezone.now()
    WorkerHeartbeat.objects.create(name="busy", started_at=now, beat_at=now - dt.timedelta(seconds=2))
    WorkerHeartbeat.objects.create(name="stuck", started_at=now, beat_at=now - dt.timedelta(minutes=5), restarts=3)
    WorkerHeartbeat.objects.create(name="gone", started_at=now, beat_at=now - dt.timedelta(days=3))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["redis"] == "in-process"
    assert [(w["name"], w["alive"], w["restarts"]) for w in body["workers"]] == [
        ("busy", True, 0),
        ("stuck", False, 3),
    ]
    assert body["workers_alive"] == 1
