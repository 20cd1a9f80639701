"""CSV import for administrators: upload, progress, report, rejected rows to download."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from textdesk.crm import importing, record_types
from textdesk.crm.actions.imports import start_import
from textdesk.crm.models import ImportRun

IMPORT_PERMISSION = "crm.add_importrun"


def _require_importer(user) -> None:
    if not user.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied


def _kinds() -> list[tuple[str, Promise]]:
    return record_types.choices()


@login_required
def import_start(request):
    _require_importer(request.user)
    error = ""
    kind = request.POST.get("kind", "contact")
    if request.method == "POST":
        upload = request.FILES.get("file")
        if kind not in importing.KINDS:
            error = _("Choose what the rows are.")
        elif upload is None:
            error = _("Choose a CSV file.")
        elif upload.size > ImportRun.MAX_BYTES:
            error = _("The file is larger than %(mb)s MB; split it and import the parts.") % {
                "mb": ImportRun.MAX_BYTES // (1024 * 1024)
            }
        else:
            try:
                run = start_import(user=request.user, kind=kind, file_name=upload.name, content=upload.read())
            except importing.ImportFileError as exc:
                error = str(exc)
            else:
                return redirect("import_detail", run_id=run.pk)
    runs = ImportRun.objects.defer("content", "rejected_csv")[:20]
    return render(
        request,
        "web/import_start.html",
        {"kinds": _kinds(), "kind": kind, "error": error, "runs": runs, "columns": importing.COLUMNS},
        status=422 if error else 200,
    )


@login_required
def import_detail(request, run_id: int):
    _require_importer(request.user)
    run = get_object_or_404(ImportRun.objects.defer("content"), pk=run_id)
    template = "web/partials/import_progress.html" if request.htmx else "web/import_detail.html"
    return render(request, template, {"run": run})


@login_required
def import_rejected(request, run_id: int):
    _require_importer(request.user)
    run = get_object_or_404(ImportRun.objects.defer("content"), pk=run_id)
    response = HttpResponse(run.rejected_csv, content_type="text/csv; charset=utf-8")
    stem = run.file_name.rsplit(".", 1)[0] or "import"
    response["Content-Disposition"] = f'attachment; filename="{stem}.rejected.csv"'
    return response
