import os

from django.core.management.base import BaseCommand


def default_simulator_url() -> str:
    """Where ``textdesk demo`` runs the simulator: the same TEXTDESK_SIMULATOR_PORT (default 8025)."""
    return f"http://127.0.0.1:{os.environ.get('TEXTDESK_SIMULATOR_PORT') or '8025'}"


class Command(BaseCommand):
    help = "Load the demo organisation (users, teams, records, simulator provider, numbers). Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument(
            "--simulator-url",
            default=None,
            help="the simulator's URL (default http://127.0.0.1:$TEXTDESK_SIMULATOR_PORT, port 8025 when unset)",
        )

    def handle(self, *args, simulator_url, **options):
        from textdesk.demo.organisation import seed_demo

        logins = seed_demo(simulator_url=simulator_url or default_simulator_url())
        for username, password, role in logins.users:
            self.stdout.write(f"{username:<10} {password:<10} {role}")
