"""A worker in its own process (run by tests that kill it mid-send): fake provider kinds registered."""

import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")
django.setup()

from tests.outbound import fake_gateway  # noqa: E402
from textdesk.jobs.worker import load_handlers, run_once, start_pipelines  # noqa: E402
from textdesk.providers import registry  # noqa: E402

fake_gateway.register(registry.MODULES)
load_handlers()
name = f"process-{os.getpid()}"
# TEXTDESK_TEST_PIPELINE=1: send as ``textdesk worker`` does on PostgreSQL, through the pipeline.
pipelines = start_pipelines(name) if os.environ.get("TEXTDESK_TEST_PIPELINE") == "1" else None
while True:
    if not run_once(name, pipelines=pipelines):
        time.sleep(0.05)
