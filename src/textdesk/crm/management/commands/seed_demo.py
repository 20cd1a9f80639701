from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load the demo organisation (users, teams, records, simulator provider, numbers). Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--simulator-url", default="http://127.0.0.1:8025")

    def handle(self, *args, simulator_url, **options):
        from textdesk.demo.organisation import seed_demo

        logins = seed_demo(simulator_url=simulator_url)
        for username, password, role in logins.users:
            self.stdout.write(f"{username:<10} {password:<10} {role}")
