from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run a queue worker: sends queued messages, routes inbound messages, runs scheduled sequence steps. "
        "Start as many as needed; on PostgreSQL they share the work without doing any item twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="worker name shown in job locks (default host:pid)")

    def handle(self, *args, name, **options):
        import signal

        from textdesk.jobs.worker import Worker

        worker = Worker(name=name)
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        try:
            worker.run_forever()
        except KeyboardInterrupt:
            worker.stop()
