"""A real worker process is killed while its HTTP request is at the gateway; another worker takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tests.outbound.helpers import drain
from textdesk.jobs.models import Job
from textdesk.messaging.models import Message, ProviderAccount
from textdesk.messaging.outbound.send import send_message

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


@pytest.fixture(params=["dispatch", "pipeline"])
def path(request) -> str:
    """The killed worker sends one job at a time (``dispatch``) or through the pipeline (PostgreSQL only)."""
    if request.param == "pipeline" and connection.vendor != "postgresql":
        pytest.skip("the pipeline runs on PostgreSQL")
    return request.param


def _kill_worker_mid_send(setup, kind: str, path: str = "dispatch") -> Message:
    ProviderAccount.objects.filter(pk=setup.account.pk).update(kind=kind)
    setup.gateway.script(setup.to, "hold")
    message = send_message(
        user=setup.user, record=setup.contact, sender_number=setup.number, to_number=setup.to, body="Your order shipped"
    )
    env = {
        **os.environ,
        "TEXTDESK_DATABASE_URL": _database_url(),
        "TEXTDESK_SECRET_KEY": settings.SECRET_KEY,
        "TEXTDESK_DATA_DIR": str(settings.DATA_DIR),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "TEXTDESK_TEST_PIPELINE": "1" if path == "pipeline" else "0",
    }
    worker = subprocess.Popen([sys.executable, str(ROOT / "tests/outbound/worker_process.py")], env=env, cwd=ROOT)
    try:
        for _ in range(600):  # wait (up to a minute) for its request to arrive
            if setup.gateway.requests or worker.poll() is not None:
                break
            time.sleep(0.1)
        assert setup.gateway.requests, "the worker process never reached the gateway"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    setup.gateway.release.set()
    message.refresh_from_db()
    assert message.status == "sending" and not message.provider_message_id  # the dead worker's trace
    # Time passes: the dead worker's lease on the job runs out.
    Job.objects.filter(kind="send_message").update(locked_until=timezone.now())
    return message


def test_without_idempotency_or_lookup_the_outcome_is_unknown_not_resent(setup, path):
    message = _kill_worker_mid_send(setup, "fake", path)
    drain()
    message.refresh_from_db()
    assert message.status == "unknown" and message.failure_reason == "OutcomeUnknown"
    assert len(setup.gateway.requests) == 1


def test_with_an_idempotency_key_the_resend_is_the_same_message(setup, path):
    message = _kill_worker_mid_send(setup, "fake_idem", path)
    drain()
    message.refresh_from_db()
    assert len(setup.gateway.requests) == 2
    assert setup.gateway.accepted_count() == 1
    assert message.provider_message_id == setup.gateway.accepted[str(message.idempotency_key)]


def test_with_lookup_the_message_is_found_not_resent(setup, path):
    message = _kill_worker_mid_send(setup, "fake_lookup", path)
    drain()
    message.refresh_from_db()
    assert len(setup.gateway.requests) == 1
    assert message.provider_message_id == setup.gateway.by_reference[str(message.pk)]
