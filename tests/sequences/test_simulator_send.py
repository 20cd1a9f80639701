"""Automated steps end to end: the worker sends through outbound to the built-in simulator, once per step."""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading

import pytest
from django.utils import timezone

from textdesk.jobs import worker
from textdesk.sequences import actions
from textdesk.sequences.models import SequenceConnection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        importlib.util.find_spec("textdesk.messaging.outbound.send") is None,
        reason="runs once outbound sending (send_message) is merged",
    ),
]

SID, TOKEN = "AC" + "7" * 32, "sequences-sim-token"


@pytest.fixture
def sim():
    from textdesk.simulator.server import start_in_thread

    handle = start_in_thread("127.0.0.1", 0)
    yield handle
    handle.stop()


@pytest.fixture
def line(sim, seller, make_provider_account, make_sender_number):
    worker.load_handlers()
    account = make_provider_account(
        kind="twilio", options={"base_url": sim.url}, credentials={"account_sid": SID, "auth_token": TOKEN}
    )
    number = make_sender_number("+14155550100", owner=seller, provider_account=account, rate_per_second=1000)
    sim.state.add_number({"number": number.e164, "account_sid": SID, "auth_token": TOKEN})
    return number


def _drain(name: str, passes: int = 200) -> None:
    for _ in range(passes):
        if not worker.run_once(name):
            return


def test_after_its_wait_an_automated_step_reaches_the_simulator_once(
    sim, line, seller, manager, make_record, make_template
):
    template = make_template(manager, body="Hi {{ContactFirstName}}, a reminder from {{UserFirstName}}.")
    sequence = actions.create_sequence(
        manager,
        name="Reminder",
        steps=[
            actions.StepInput(kind="wait", wait=dt.timedelta(minutes=2)),
            actions.StepInput(kind="text_automated", template_id=template.pk),
            actions.StepInput(kind="call"),
        ],
    )
    record = make_record("contact", seller, first_name="Alice", mobile_phone="+14155550134")
    # Connected ten minutes ago on the controlled clock: the wait is over.
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=timezone.now() - dt.timedelta(minutes=10))
    _drain("worker-a")
    _drain("worker-b")
    received = sim.state.list_messages(direction="outbound")
    assert [(m["from"], m["to"], m["body"]) for m in received] == [
        ("+14155550100", "+14155550134", "Hi Alice, a reminder from Sam.")
    ]
    conn = SequenceConnection.objects.get(pk=result.connection_id)
    assert conn.current_step.kind == "call"
    assert [(h.step_kind, h.outcome) for h in conn.history.all()] == [
        ("wait", "completed"),
        ("text_automated", "completed"),
    ]


@pytest.mark.postgres_only
def test_two_workers_send_each_automated_step_once(is_postgres, sim, line, seller, make_record, make_sequence):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: concurrent workers claim with SKIP LOCKED")
    from django.db import connection as db

    sequence = make_sequence("wait", "text_automated", wait=dt.timedelta(seconds=1))
    records = [make_record("contact", seller, first_name=f"C{i}", mobile_phone=f"+1415555{i:04d}") for i in range(20)]
    actions.connect(seller, sequence.pk, [r.record_key for r in records], now=timezone.now() - dt.timedelta(minutes=1))
    start = threading.Barrier(3)

    def run(name):
        start.wait()
        try:
            _drain(name)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(f"worker-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    received = sorted(m["to"] for m in sim.state.list_messages(direction="outbound"))
    assert received == sorted(r.mobile_phone_e164 for r in records)
    assert SequenceConnection.objects.filter(state="completed").count() == 20


def test_an_automated_text_refused_by_the_provider_reopens_its_step_failed_with_the_reason(
    sim, line, seller, manager, make_record, make_template
):
    """The step had completed when the text was queued; the provider's refusal sends the record back to it."""
    from textdesk.messaging.models import Message, Notification

    template = make_template(manager, body="Hi {{ContactFirstName}}.")
    sequence = actions.create_sequence(
        manager,
        name="Refused",
        steps=[
            actions.StepInput(kind="text_automated", template_id=template.pk),
            actions.StepInput(kind="wait", wait=dt.timedelta(days=2)),
            actions.StepInput(kind="call"),
        ],
    )
    record = make_record("contact", seller, first_name="Bea", mobile_phone="+14155550177")
    sim.state.add_rule({"to_pattern": "+14155550177", "error_code": 21211, "times": 1})  # invalid 'To'
    [result] = actions.connect(seller, sequence.pk, [record.record_key])
    _drain("worker-a")
    message = Message.objects.get(direction="outbound")
    assert message.status == "failed" and message.failure_reason
    conn = SequenceConnection.objects.get(pk=result.connection_id)
    assert (conn.state, conn.current_step.kind) == ("failed", "text_automated")
    assert conn.failure_reason == message.failure_reason
    assert [(h.step_kind, h.outcome, h.message_id) for h in conn.history.order_by("id")] == [
        ("text_automated", "completed", message.pk),
        ("text_automated", "failed", message.pk),
    ]
    assert Notification.objects.filter(user=seller, kind="sequence_step_failed").count() == 1
    # A repeated report of the same failure changes nothing.
    assert actions.text_not_delivered(message) is False
    # The number is fine now (the rule was for one send): retrying sends again and moves on to the wait.
    actions.retry_step(seller, conn.pk, conn.current_step_id)
    _drain("worker-b")
    conn.refresh_from_db()
    assert (conn.state, conn.current_step.kind) == ("active", "wait")
    assert [m["to"] for m in sim.state.list_messages(direction="outbound")] == ["+14155550177"]


def test_a_text_reported_undelivered_after_the_seller_moved_on_leaves_the_sequence_where_it_is(
    sim, line, seller, manager, make_record, make_template
):
    from textdesk.messaging.models import Message
    from textdesk.messaging.outbound.reports import apply_status_report
    from textdesk.providers.base import StatusReport

    template = make_template(manager, body="Hi.")
    sequence = actions.create_sequence(
        manager,
        name="Moved on",
        steps=[
            actions.StepInput(kind="text_automated", template_id=template.pk),
            actions.StepInput(kind="call"),
            actions.StepInput(kind="email"),
        ],
    )
    record = make_record("contact", seller, first_name="Cy", mobile_phone="+14155550178")
    [result] = actions.connect(seller, sequence.pk, [record.record_key])
    _drain("worker-a")
    message = Message.objects.get(direction="outbound")
    conn = SequenceConnection.objects.get(pk=result.connection_id)
    actions.complete_step(seller, conn.pk, conn.current_step_id)  # the call is made
    apply_status_report(
        message.provider_account,
        StatusReport(
            provider_message_id=message.provider_message_id,
            status="undelivered",
            provider_status="undelivered",
            error_code="30003",
            error_text="Unreachable destination handset",
            failure_reason="UnreachableDestination",
            permanent=True,
        ),
    )
    message.refresh_from_db()
    conn.refresh_from_db()
    assert message.status == "undelivered"
    assert (conn.state, conn.current_step.kind) == ("active", "email")
