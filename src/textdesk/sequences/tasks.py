"""The scheduler of sequences: due steps run as durable queue jobs (see jobs.queue), one job per step entry.

Each job carries a unique key (``seqstep:<connection>:<step>:<attempt>``), so a
step is scheduled once however often it is asked for; the job survives restarts
in the database, and the handler re-checks the connection under a row lock, so a
second run of the same entry does nothing.
"""

from __future__ import annotations

from django.utils import timezone

from textdesk.jobs import queue
from textdesk.jobs.models import Job
from textdesk.sequences import actions


@queue.handler(actions.RUN_STEP_JOB)
def run_step(job: Job) -> None:
    payload = job.payload
    result = actions.run_due_step(
        int(payload["connection_id"]), int(payload["step_id"]), int(payload["attempt"]), now=timezone.now()
    )
    if result.outcome == "not_due":
        assert result.due_at is not None  # "not_due" always says when
        raise queue.RetryLater(result.due_at, "step not due yet")
