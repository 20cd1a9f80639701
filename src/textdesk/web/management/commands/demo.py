import logging
import os

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

# Loggers that write a line per HTTP request: the provider client (every send, every webhook the simulator
# posts) and the web server's access log. The demo's terminal shows them only with --verbose.
REQUEST_LOGGERS = ("httpx", "httpcore", "uvicorn.access")


def configure_request_logs(verbose: bool) -> None:
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


class Command(BaseCommand):
    help = (
        "Run the whole product on the embedded default, in one process: database migrations, the demo "
        "organisation, the web server, an in-process queue worker and the built-in SMS simulator. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TEXTDESK_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TEXTDESK_PORT", "8000")))
        parser.add_argument(
            "--simulator-port", type=int, default=int(os.environ.get("TEXTDESK_SIMULATOR_PORT", "8025"))
        )
        parser.add_argument(
            "--verbose", action="store_true", help="log every HTTP request (web server, provider calls, webhooks)"
        )

    def handle(self, *args, host, port, simulator_port, verbose=False, **options):
        from django.conf import settings

        from textdesk.demo.organisation import seed_demo
        from textdesk.jobs.supervisor import Supervisor
        from textdesk.jobs.worker import Worker
        from textdesk.web import serving

        configure_request_logs(verbose)
        call_command("migrate", verbosity=0, interactive=False)
        simulator_url = f"http://127.0.0.1:{simulator_port}"
        logins = seed_demo(simulator_url=simulator_url)

        simulator = None
        try:
            from textdesk.simulator.server import start_in_thread as start_simulator
        except ImportError:
            start_simulator = None
        if start_simulator is not None:
            from textdesk.demo.simulator import configure_from_database

            simulator = start_simulator(host="127.0.0.1", port=simulator_port)
            configure_from_database(simulator.state, simulator_url)

        Supervisor(Worker(name="demo-worker")).start_in_thread()
        # The web server runs in this thread from here on: the connection of the set-up goes back (to the pool on
        # PostgreSQL) rather than staying borrowed for the life of the process.
        connections.close_all()

        self.stdout.write(self.style.SUCCESS(f"\nTextDesk is running at {settings.PUBLIC_URL}/"))
        if simulator is not None:
            self.stdout.write(f"Customer phone (SMS simulator): {simulator_url}/phone")
        self.stdout.write(f"Data folder: {settings.DATA_DIR}")
        self.stdout.write("\nDemo logins (username / password / role):")
        for username, password, role in logins.users:
            self.stdout.write(f"  {username:<10} {password:<10} {role}")
        if not verbose:
            self.stdout.write("Requests are not logged here; `textdesk demo --verbose` shows each one.")
        self.stdout.write("\nPress Ctrl+C to stop.\n")
        serving.run(host, port, access_log=verbose)
