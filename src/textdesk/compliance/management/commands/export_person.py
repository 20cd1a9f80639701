"""textdesk export-person +5511912345678 [--output FILE]: everything held about a number, in one zip."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from textdesk.compliance.actions import subject


class Command(BaseCommand):
    help = "Export everything TextDesk holds about a phone number: person.json and CSV files in one zip archive."

    def add_arguments(self, parser):
        parser.add_argument("number", help="the person's phone number in E.164 format, e.g. +5511912345678")
        parser.add_argument("--output", "-o", help="archive path (default: person-<number>-<time>.zip here)")

    def handle(self, *args, number: str, output: str | None = None, **options):
        try:
            name, data = subject.export_archive(number)
        except subject.InvalidNumber as invalid:
            raise CommandError(str(invalid)) from None
        path = Path(output or name)
        path.write_bytes(data)
        self.stdout.write(f"{path} ({len(data)} bytes)")
