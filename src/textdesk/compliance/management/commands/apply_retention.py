"""textdesk apply_retention [--dry-run]: the retention policy now (the worker runs it once a day)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from textdesk.compliance.actions import retention


class Command(BaseCommand):
    help = "Apply the retention policy of the compliance settings now; --dry-run only counts."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be removed, remove nothing")

    def handle(self, *args, dry_run: bool = False, **options):
        result = retention.apply(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        self.stdout.write(f"{verb}: {result.messages} messages ({result.action}), {result.audit_events} audit events")
