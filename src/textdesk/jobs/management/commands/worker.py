import os

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run a queue worker: sends queued messages, routes inbound messages, runs scheduled sequence steps. "
        "Start as many as needed; on PostgreSQL they share the work without doing any item twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="worker name shown in job locks (default host:pid)")
        parser.add_argument(
            "--nice", type=int, default=int(os.environ.get("TEXTDESK_WORKER_NICE", "10")),
            help="lower this process's CPU priority by this much (default 10, or TEXTDESK_WORKER_NICE; 0 keeps "
                 "it): where workers share cores with web processes, webhooks are answered first in a burst "
                 "and routing catches up after",
        )
        parser.add_argument(
            "--threads", type=int, default=1,
            help="threads sending in parallel, e.g. to different sender numbers (each has its own database "
                 "connection; on SQLite writes still take turns)",
        )

    def handle(self, *args, name, threads, nice, **options):
        import signal

        from textdesk.jobs.worker import Worker

        if nice > 0:
            # A provider retries a webhook that is not answered in time (Telnyx waits 2 s); a message already
            # stored can wait a little longer to be routed. Only matters when the cores are busy.
            os.nice(nice)

        worker = Worker(name=name, threads=threads)
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        try:
            worker.run_forever()
        except KeyboardInterrupt:
            worker.stop()
