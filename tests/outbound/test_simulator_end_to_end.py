"""End to end over real HTTP: worker → built-in simulator (Twilio wire format) → signed status callbacks → us.

The callbacks reach a small receiver on 127.0.0.1 that does what the webhook intake does for delivery
reports: verify the signature with the adapter, parse, apply with ``apply_status_report``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

import pytest
from django.db import connection
from django.utils import timezone

from tests.local_server import LocalHTTPServer
from tests.outbound.helpers import assert_slots_respect_rate, drain, pending_jobs, reserved_slots
from textdesk.domain import failures
from textdesk.jobs.worker import run_once
from textdesk.messaging.actions.consent import is_opted_out
from textdesk.messaging.models import Message, ProviderAccount
from textdesk.messaging.outbound.reports import apply_status_report
from textdesk.messaging.outbound.send import SendRefused, send_message
from textdesk.providers.base import WebhookRejected, WebhookRequest
from textdesk.simulator import server as server_module

pytestmark = pytest.mark.django_db(transaction=True)

SID, TOKEN = "AC" + "5" * 32, "simulator-auth-token"


class _StatusReceiver(BaseHTTPRequestHandler):
    public_url = ""
    answers: list[int]

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        from textdesk.providers.registry import get_provider

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.path.split("/")[2]
        status = 200
        try:
            account = ProviderAccount.objects.get(status_key=key)
            request = WebhookRequest(
                method="POST",
                url=self.public_url + self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            provider = get_provider(account.kind)
            provider.verify(account.config(), request, timezone.now())
            for report in provider.parse_status(account.config(), request).statuses:
                apply_status_report(account, report)
        except ProviderAccount.DoesNotExist:
            status = 404
        except WebhookRejected as rejected:
            status = rejected.status
        finally:
            connection.close()
        self.answers.append(status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver(settings):
    handler = type("Receiver", (_StatusReceiver,), {"answers": []})
    httpd = LocalHTTPServer(("127.0.0.1", 0), handler)
    handler.public_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    settings.PUBLIC_URL = handler.public_url  # the status callback URL we give the provider points here
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def sim():
    handle = server_module.start_in_thread("127.0.0.1", 0)
    handle.state.configure({"callback_delays": [0.01, 0.02], "post_queued": True})
    yield handle
    handle.stop()


@pytest.fixture
def world(db, sim, receiver, handlers, make_user, make_provider_account, make_sender_number, make_record):
    class World:
        pass

    w = World()
    w.sim, w.receiver = sim, receiver
    w.user = make_user("seller")
    w.account = make_provider_account(
        kind="twilio", options={"base_url": sim.url}, credentials={"account_sid": SID, "auth_token": TOKEN}
    )
    w.number = make_sender_number("+14155550100", owner=w.user, provider_account=w.account, rate_per_second=1000)
    sim.state.add_number({"number": w.number.e164, "account_sid": SID, "auth_token": TOKEN})
    w.contact = make_record("contact", w.user, mobile_phone="+5511912345678", country="BR")
    w.to = "+5511912345678"
    return w


@pytest.fixture
def handlers():
    from textdesk.jobs.worker import load_handlers

    load_handlers()


def _send(w, **kw):
    args = dict(user=w.user, record=w.contact, sender_number=w.number, to_number=w.to, body="Your quote is ready")
    args.update(kw)
    return send_message(**args)


def _sim_messages(w, to=None):
    return [m for m in w.sim.state.list_messages(direction="outbound") if to is None or m["to"] == to]


def _settle(message, statuses, within=30.0) -> Message:
    """Wait (bounded) until the callbacks have brought the message to one of ``statuses``."""
    stop = time.monotonic() + within
    while time.monotonic() < stop:
        message.refresh_from_db()
        if message.status in statuses:
            return message
        time.sleep(0.05)
    return message


def test_a_send_reaches_the_simulator_once_and_ends_delivered(world):
    message = _send(world)
    drain()
    carried = _sim_messages(world)
    assert len(carried) == 1 and carried[0]["body"] == "Your quote is ready"
    message = _settle(message, {"delivered"})
    assert message.status == "delivered" and message.provider_message_id == carried[0]["sid"]
    statuses = [e.status for e in message.events.order_by("at", "id") if e.applied]
    assert statuses[:2] == ["queued", "sending"] and statuses[-2:] == ["sent", "delivered"]
    assert set(world.receiver.answers) == {200}
    drain()
    assert len(_sim_messages(world)) == 1


def test_a_retryable_failure_retries_and_succeeds(world):
    world.sim.state.add_rule({"to_pattern": world.to, "http_status": 503, "times": 2})
    message = _send(world)
    drain()
    message = _settle(message, {"delivered"})
    assert message.status == "delivered" and message.attempts == 3
    assert len(_sim_messages(world)) == 1
    history = list(message.events.order_by("at", "id").values_list("status", flat=True))
    assert history[:5] == ["queued", "sending", "queued", "sending", "queued"]


def test_a_permanent_failure_ends_failed_with_reason_and_fix(world):
    world.sim.state.add_rule({"to_pattern": world.to, "error_code": 21211})
    message = _send(world)
    drain()
    message.refresh_from_db()
    assert message.status == "failed" and message.failure_permanent
    assert message.failure_reason == failures.INVALID_SENDING_PARAMETERS
    assert message.provider_error_code == "21211"
    assert "+5511" in str(failures.describe(message.failure_reason).fix)
    assert _sim_messages(world) == []


def test_the_providers_opt_out_error_opts_the_number_out(world):
    world.sim.state.add_rule({"to_pattern": world.to, "error_code": 21610})
    message = _send(world)
    drain()
    message.refresh_from_db()
    assert message.failure_reason == failures.RECIPIENT_OPTED_OUT
    assert is_opted_out(world.to, world.number.e164)
    with pytest.raises(SendRefused):
        _send(world)


def test_an_invalid_number_is_refused_before_the_simulator(world):
    with pytest.raises(SendRefused) as refused:
        _send(world, to_number="011 5511 91234")
    assert refused.value.reason == failures.INVALID_SENDING_PARAMETERS
    assert not Message.objects.exists() and _sim_messages(world) == []


def test_out_of_order_and_duplicate_callbacks_end_delivered(world):
    world.sim.state.add_rule({"to_pattern": world.to, "out_of_order": True, "duplicate_callbacks": 2})
    message = _send(world)
    drain()
    message = _settle(message, {"delivered"})
    # Every callback (3 statuses × 3 copies) arrives, newest first; the message never moves backwards.
    stop = time.monotonic() + 30
    while len(world.receiver.answers) < 9 and time.monotonic() < stop:
        time.sleep(0.05)
    message.refresh_from_db()
    assert message.status == "delivered"
    assert message.events.filter(applied=False).count() >= 6


def test_a_late_carrier_failure_ends_undelivered_with_reason(world):
    world.sim.state.add_rule({"to_pattern": world.to, "async_error_code": 30003})
    message = _send(world)
    drain()
    message = _settle(message, {"undelivered"})
    assert message.status == "undelivered" and message.failure_reason == failures.UNREACHABLE_DESTINATION
    assert message.provider_error_code == "30003"


def _workers(n: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            stop = time.monotonic() + 120
            while time.monotonic() < stop and pending_jobs().exists():
                if not run_once(name):
                    time.sleep(0.02)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_workers_never_send_one_message_twice(world):
    from textdesk.jobs import queue

    messages = [
        _send(world, body=f"message {i}", to_number=f"+55119123456{i:02d}", add_number_to_record=True)
        for i in range(20)
    ]
    for m in messages:  # a second job per message, so that the two workers race for the same messages
        queue.enqueue("send_message", {"message_id": m.pk})
    assert _workers(2) == []
    carried = Counter(m["body"] for m in _sim_messages(world))
    assert sorted(carried) == sorted(m.body for m in messages) and set(carried.values()) == {1}


def test_the_rate_limit_holds_at_the_simulator(world):
    from textdesk.messaging.models import SenderNumber

    SenderNumber.objects.filter(pk=world.number.pk).update(rate_per_second=4)
    for i in range(12):
        _send(world, body=f"message {i}", to_number=f"+55119123456{i:02d}", add_number_to_record=True)
    assert _workers(3) == []
    carried = _sim_messages(world)
    assert len(carried) == 12
    # The simulator stamps each message on arrival; count them per second from the first.
    stamps = sorted(dt.datetime.strptime(m["date_created"], "%a, %d %b %Y %H:%M:%S %z").timestamp() for m in carried)
    per_second = Counter(int(s) for s in stamps)
    assert max(per_second.values()) <= 5 and len(per_second) >= 3
    assert_slots_respect_rate(reserved_slots(world.number.pk), 4)
