"""Job handlers of the CRM (discovered by the worker)."""

from __future__ import annotations

from textdesk.crm.actions.imports import JOB_KIND, run_import
from textdesk.jobs import queue


@queue.handler(JOB_KIND)
def import_csv(job) -> None:
    run_import(int(job.payload["import_run_id"]), job)
