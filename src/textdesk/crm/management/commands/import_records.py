import argparse
import sys
import textwrap
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from textdesk.crm import record_types


class Command(BaseCommand):
    help = (
        "Import CRM records (account, contact, lead, opportunity) from a CSV file with a header row. The cell "
        "separator (comma, semicolon, tab or |) and the encoding (UTF-8 with or without BOM, UTF-16 with BOM, "
        "Windows Latin-1) are recognised. Rows with an external_id are created or updated (importing a file twice "
        "changes nothing). Each row is saved on its own: a bad row is reported with its line number and reason "
        "as the import runs and leaves nothing behind; rejected rows are written to FILE.rejected.csv beside the "
        "file. Exits 0 when rows were stored (even if some were rejected), 1 when nothing could be imported, "
        "or with --strict when any row was rejected."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        from textdesk.crm.importing import columns_help

        self.help = textwrap.fill(type(self).help, 78)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("epilog", "Columns (order free; only the required ones must be there):\n\n" + columns_help())
        return super().create_parser(prog_name, "import" if subcommand == "import_records" else subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=record_types.KEYS, help="what the rows are")
        parser.add_argument("file", type=Path, help="the CSV file")
        parser.add_argument(
            "--errors",
            type=Path,
            metavar="OUT.csv",
            help="where to write the rejected rows (line, reason, then the row); default: FILE.rejected.csv",
        )
        parser.add_argument(
            "--owner",
            default="",
            metavar="USERNAME",
            help="owner of rows that name neither owner_username nor owner_team",
        )
        parser.add_argument(
            "--recorded-by",
            default="",
            metavar="USERNAME",
            help="the user the consent ledger names as having recorded the file's consents (default: --owner)",
        )
        parser.add_argument("--delimiter", default=None, help="cell separator (default: recognised from the header)")
        parser.add_argument("--strict", action="store_true", help="exit with status 1 when any row is rejected")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, kind, file, errors, owner, recorded_by, delimiter, strict, no_progress, **options):
        from tqdm import tqdm

        from textdesk.crm.importing import (
            ImportFileError,
            RowError,
            check_header,
            import_rows,
            read_csv,
            rejected_path,
            write_errors,
        )
        from textdesk.org.models import User

        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        recorder = User.objects.filter(username=recorded_by or owner).first() if recorded_by or owner else None
        if recorded_by and recorder is None:
            raise CommandError(f"no user named {recorded_by!r} (--recorded-by)")
        try:
            csv_file = read_csv(file, kind, delimiter)
            check_header(kind, csv_file.header)
            total = csv_file.count_rows()
        except ImportFileError as exc:
            raise CommandError(f"{file}: {exc}") from exc

        with tqdm(total=total, unit="row", file=sys.stderr, disable=no_progress, desc=f"Importing {kind}s") as bar:

            def tell(problem) -> None:  # as it happens, above the progress bar
                text = problem.reason if isinstance(problem, RowError) else problem.describe()
                prefix = "" if isinstance(problem, RowError) else "warning: "
                bar.write(f"{file}:{problem.line}: {prefix}{text}", file=sys.stderr)

            report = import_rows(
                kind,
                csv_file.rows(),
                default_owner=owner,
                header_width=len(csv_file.header),
                on_row=lambda: bar.update(1),
                on_problem=tell,
                recorded_by=recorder,
                source=file.name,
            )

        summary = report.summary()
        if report.errors:
            target = errors or rejected_path(file)
            write_errors(target, csv_file.header, report.errors)
            summary += f" (rejected rows written to {target})"
        if report.total and not report.stored:
            raise CommandError(summary + "; nothing was imported")
        if strict and report.failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
