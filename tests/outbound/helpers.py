from __future__ import annotations

from django.utils import timezone

from textdesk.jobs.models import Job, JobState


def drain(worker_id: str = "test-worker", advance: bool = True, limit: int = 50) -> int:
    """Run every due send job; with ``advance``, jobs rescheduled for later are made due (time passes)."""
    from textdesk.jobs.worker import run_once

    handled = 0
    for _ in range(limit):
        done = run_once(worker_id)
        handled += done
        if not done:
            if not advance or not pending_jobs().exists():
                break
            pending_jobs().update(run_at=timezone.now())
    return handled


def pending_jobs():
    return Job.objects.filter(kind="send_message", state=JobState.PENDING)
