"""The ``textdesk`` command: TextDesk's own commands plus every Django management command."""

from __future__ import annotations

import os
import sys

OWN_COMMANDS = {
    "serve": "run the web server (HTTP API, web app, webhooks, live updates)",
    "worker": "run a queue worker (sending, routing, scheduled steps)",
    "demo": "run everything in one process group on the embedded default, with demo data",
    "simulator": "run the built-in SMS carrier simulator on its own",
    "migrate": "create or update the database schema",
    "import": "import CRM records from a CSV file, with a per-row error report",
    "token": "create an API token for a user",
    "seed_demo": "load the demo organisation (safe to re-run)",
    "export-person": "export everything held about a phone number (JSON + CSV in one zip archive)",
    "erase-person": "erase a person's messages and personal data (their opt-out stays, hashed)",
}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")
    if len(argv) < 2 or argv[1] in {"-h", "--help", "help"} and len(argv) == 2:
        print("usage: textdesk <command> [options]   (textdesk <command> --help for details)\n")
        print("TextDesk commands:")
        for name, text in OWN_COMMANDS.items():
            print(f"  {name:<11} {text}")
        print("\nEvery Django management command works too (e.g. createsuperuser, shell, compilemessages).")
        return
    argv[0] = "textdesk"
    if argv[1] == "import":
        argv[1] = "import_records"
    argv[1] = {"export-person": "export_person", "erase-person": "erase_person"}.get(argv[1], argv[1])
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
