from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the built-in SMS carrier simulator on its own: Twilio's Messages API "
        "(/2010-04-01/Accounts/<sid>/Messages.json), the generic gateway API (/generic/messages), "
        "its JSON admin API under /_sim/ (numbers, rules, inbound, messages, webhooks) and the customer "
        "phone page at /phone. With --from-database it hosts the numbers of every provider account "
        "whose base URL points at it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument(
            "--port", type=int, default=8025, help="port to listen on (default 8025; 0 = any free port)"
        )
        parser.add_argument(
            "--from-database",
            action="store_true",
            help="host the numbers of provider accounts whose base_url is this simulator's URL",
        )
        parser.add_argument(
            "--public-url",
            default="",
            help="the URL provider accounts use for this simulator (default http://HOST:PORT)",
        )

    def handle(self, *args, host, port, from_database, public_url, **options):
        from textdesk.simulator.server import start_in_thread

        handle = start_in_thread(host=host, port=port)
        if from_database:
            from textdesk.demo.simulator import configure_from_database

            hosted = configure_from_database(handle.state, public_url or handle.url)
            self.stdout.write(f"Hosting {hosted} number(s) from the database.")
        self.stdout.write(self.style.SUCCESS(f"SMS simulator running at {handle.url}"))
        self.stdout.write(f"Customer phone: {handle.url}/phone   (Ctrl+C to stop)")
        try:
            handle.wait()
        except KeyboardInterrupt:
            pass
        finally:
            handle.stop()
