from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run a queue worker: sends queued messages, routes inbound messages, runs scheduled sequence steps. "
        "Start as many as needed; on PostgreSQL they share the work without doing any item twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="worker name shown in job locks (default host:pid)")
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="threads sending in parallel, e.g. to different sender numbers (each uses a database connection "
            "while it sends: on PostgreSQL the worker holds threads + 1 at most; on SQLite writes still take turns)",
        )

    def handle(self, *args, name, threads, **options):
        import signal

        from textdesk.jobs.supervisor import Supervisor
        from textdesk.jobs.worker import Worker, size_connection_pool

        # The worker outlives outages of PostgreSQL and Redis (it backs off and resumes), and its supervisor starts
        # its loop again should it die: only a signal ends the command.
        size_connection_pool(threads)
        worker = Worker(name=name, threads=threads)
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        try:
            Supervisor(worker).run()
        except KeyboardInterrupt:
            worker.stop()
