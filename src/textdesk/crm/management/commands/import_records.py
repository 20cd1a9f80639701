import argparse
import sys
import textwrap
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Import CRM records (account, contact, lead, opportunity) from a CSV file with a header row. Rows with an "
        "external_id are created or updated (importing a file twice changes nothing). Each row is saved on its "
        "own: a bad row is reported with its line number and reason and leaves nothing behind. Exits with "
        "status 1 when any row failed."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        from textdesk.crm.importing import columns_help

        self.help = textwrap.fill(type(self).help, 78)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault(
            "epilog",
            "Columns (UTF-8, comma-separated; order free; only the required ones must be there):\n\n" + columns_help(),
        )
        return super().create_parser(prog_name, "import" if subcommand == "import_records" else subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["account", "contact", "lead", "opportunity"], help="what the rows are")
        parser.add_argument("file", type=Path, help="the CSV file")
        parser.add_argument(
            "--errors",
            type=Path,
            metavar="OUT.csv",
            help="also write the failed rows (line, reason, then the row) to this CSV file",
        )
        parser.add_argument(
            "--owner",
            default="",
            metavar="USERNAME",
            help="owner of rows that name neither owner_username nor owner_team",
        )
        parser.add_argument("--delimiter", default=",", help="cell separator (default ,)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, kind, file, errors, owner, delimiter, no_progress, **options):
        from tqdm import tqdm

        from textdesk.crm.importing import (
            ImportFileError,
            check_header,
            count_rows,
            import_rows,
            read_csv,
            write_errors,
        )

        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        try:
            header, rows = read_csv(file, delimiter)
            check_header(kind, header)
            total = count_rows(file, delimiter)
        except ImportFileError as exc:
            raise CommandError(f"{file}: {exc}") from exc

        with tqdm(total=total, unit="row", file=sys.stderr, disable=no_progress, desc=f"Importing {kind}s") as bar:
            report = import_rows(kind, rows, default_owner=owner, on_row=lambda: bar.update(1))

        for error in report.errors:
            self.stderr.write(f"{file}:{error.line}: {error.reason}")
        if errors is not None:
            write_errors(errors, header, report.errors)
        summary = f"{report.total} rows: {report.created} created, {report.updated} updated, {report.failed} failed"
        if report.failed:
            if errors is not None:
                summary += f" (failed rows written to {errors})"
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
