"""textdesk erase-person +5511912345678 --yes: erase a person's messages and personal data."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from textdesk.compliance.actions import subject


class Command(BaseCommand):
    help = (
        "Erase a person's messages, conversations, consent history and personal data on CRM records. "
        "The opt-out stays as a hash of the number, so sends to it are still refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("number", help="the person's phone number in E.164 format, e.g. +5511912345678")
        parser.add_argument("--yes", action="store_true", help="do it (without it, only say what would go)")

    def handle(self, *args, number: str, yes: bool = False, **options):
        try:
            if not yes:
                data = subject.collect(number)
                self.stdout.write(
                    f"would erase {len(data['messages'])} messages and anonymise {len(data['records'])} records "
                    f"of {data['number']}; run again with --yes"
                )
                return
            erased = subject.erase(number)
        except subject.InvalidNumber as invalid:
            raise CommandError(str(invalid)) from None
        self.stdout.write(
            f"erased {erased.messages} messages, {erased.conversations} conversations, {erased.consents} consent "
            f"records; anonymised {erased.records} records; opt-out kept as {erased.number_hash[:16]}…"
        )
