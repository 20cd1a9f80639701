"""A worker in its own process (run by tests that kill it mid-send): fake provider kinds registered."""

import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")
django.setup()

from tests.outbound import fake_gateway  # noqa: E402
from textdesk.jobs.worker import load_handlers, run_once  # noqa: E402
from textdesk.providers import registry  # noqa: E402

fake_gateway.register(registry.MODULES)
load_handlers()
while True:
    if not run_once(f"process-{os.getpid()}"):
        time.sleep(0.05)
