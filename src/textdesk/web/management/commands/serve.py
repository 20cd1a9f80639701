import os

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server: web app, REST API (/api/v1), provider webhooks (/webhooks/) and live updates. "
        "Several processes may share one database; set TEXTDESK_REDIS_URL so live updates reach every process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TEXTDESK_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TEXTDESK_PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("TEXTDESK_WEB_WORKERS", "1")),
            help="number of web processes (default 1, or TEXTDESK_WEB_WORKERS)",
        )

    def handle(self, *args, host, port, workers, **options):
        from textdesk.web import serving

        serving.run(host, port, workers)
