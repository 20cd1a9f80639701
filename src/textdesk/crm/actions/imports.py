"""CSV imports started from the web app: checked at once, run by a worker, progress and report kept on the run."""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from textdesk.crm import importing
from textdesk.crm.models import ImportRun
from textdesk.jobs import queue
from textdesk.jobs.models import Job

JOB_KIND = "crm.import"
PROGRESS_EVERY = 0.5  # seconds between progress writes: a browser polls once a second


def start_import(*, user, kind: str, file_name: str, content: bytes, default_owner: str = "") -> ImportRun:
    """Check the file as a whole (kind, size, header) and queue its import; raises ImportFileError with the
    reason when the file cannot be imported at all, before anything is stored."""
    if len(content) > ImportRun.MAX_BYTES:
        raise importing.ImportFileError(
            _("The file is larger than %(mb)s MB; split it and import the parts.")
            % {"mb": ImportRun.MAX_BYTES // (1024 * 1024)}
        )
    csv_file = importing.parse_csv(content, kind)
    importing.check_header(kind, csv_file.header)
    with transaction.atomic():
        run = ImportRun.objects.create(
            kind=kind,
            file_name=file_name[:255],
            content=content,
            started_by=user,
            default_owner=default_owner or (user.get_username() if user else ""),
            total_rows=csv_file.count_rows(),
        )
        queue.enqueue(JOB_KIND, {"import_run_id": run.pk}, dedupe_key=f"import:{run.pk}")
    return run


def run_import(run_id: int, job=None) -> None:
    """Import the run's rows, writing progress as it goes; a run already finished is left alone (a job that ran
    again after its worker died starts the remaining work over: rows with an external id are upserted)."""
    run = ImportRun.objects.filter(pk=run_id).first()
    if run is None or run.state in (ImportRun.State.DONE, ImportRun.State.FAILED):
        return
    ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.RUNNING)
    try:
        csv_file = importing.parse_csv(bytes(run.content), run.kind)
        importing.check_header(run.kind, csv_file.header)
    except importing.ImportFileError as exc:
        ImportRun.objects.filter(pk=run.pk).update(
            state=ImportRun.State.FAILED, error=str(exc), finished_at=timezone.now()
        )
        return

    progress = {"rows": 0, "written_at": time.monotonic()}
    problems: list[str] = []

    def on_row() -> None:
        progress["rows"] += 1
        if time.monotonic() - progress["written_at"] >= PROGRESS_EVERY:
            progress["written_at"] = time.monotonic()
            ImportRun.objects.filter(pk=run.pk).update(processed_rows=progress["rows"], problems=problems)
            if job is not None:  # a long import keeps its lease: no other worker starts it over meanwhile
                Job.objects.filter(pk=job.pk).update(locked_until=timezone.now() + queue.LEASE)

    def on_problem(problem) -> None:
        if len(problems) < ImportRun.MAX_PROBLEMS_SHOWN:
            text = problem.reason if isinstance(problem, importing.RowError) else problem.describe()
            problems.append(f"{problem.line}: {text}")

    report = importing.import_rows(
        run.kind,
        csv_file.rows(),
        default_owner=run.default_owner,
        header_width=len(csv_file.header),
        on_row=on_row,
        on_problem=on_problem,
        recorded_by=run.started_by,
        source=run.file_name,
    )
    ImportRun.objects.filter(pk=run.pk).update(
        state=ImportRun.State.DONE if report.stored or not report.total else ImportRun.State.FAILED,
        processed_rows=progress["rows"],
        created_count=report.created,
        updated_count=report.updated,
        failed_count=report.failed,
        unreadable_numbers=len(report.unreadable_numbers),
        problems=problems,
        rejected_csv=importing.rejected_rows_csv(csv_file.header, report.errors) if report.errors else "",
        error="" if report.stored or not report.total else _("No row could be imported."),
        finished_at=timezone.now(),
    )
