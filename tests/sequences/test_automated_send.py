"""Automated text steps send through the normal outbound path (textdesk.messaging.outbound.send)."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pytest
from django.utils import timezone

from textdesk.jobs import worker
from textdesk.sequences import actions
from textdesk.sequences.models import SequenceConnection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        importlib.util.find_spec("textdesk.messaging.outbound.send") is None,
        reason="runs once outbound sending (send_message) is merged",
    ),
]


@pytest.fixture(autouse=True)
def _handlers():
    worker.load_handlers()


def _due_now():
    return timezone.now() - dt.timedelta(seconds=1)


def test_automated_step_sends_once_from_the_owners_number_to_the_mobile(
    seller, manager, make_record, make_template, make_sender_number
):
    from textdesk.messaging.models import Message

    number = make_sender_number(owner=seller)
    template = make_template(manager, body="Hi {{ContactFirstName}}, {{UserFirstName}} here.")
    sequence = actions.create_sequence(
        manager,
        name="Auto",
        steps=[actions.StepInput(kind="text_automated", template_id=template.pk), actions.StepInput(kind="call")],
    )
    record = make_record(
        "contact", seller, first_name="Alice", mobile_phone="+14155550134", business_phone="+14155550100"
    )
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=_due_now())
    worker.run_once("worker-a")
    [message] = Message.objects.all()
    assert (message.from_number, message.to_number, message.body) == (
        number.e164,
        "+14155550134",
        "Hi Alice, Sam here.",
    )
    assert message.sender_number_id == number.pk
    conn = SequenceConnection.objects.get(pk=result.connection_id)
    assert conn.current_step.kind == "call"
    [sent] = conn.history.all()
    assert sent.outcome == "completed" and sent.message_id == message.pk
    for _ in range(3):
        worker.run_once("worker-b")
    assert Message.objects.filter(body="Hi Alice, Sam here.").count() == 1


def test_automated_step_to_an_opted_out_customer_fails_and_notifies(
    seller, make_record, make_sequence, make_sender_number
):
    from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
    from textdesk.messaging.models import Message, Notification

    make_sender_number(owner=seller)
    record_consent("+14155550134", ALL_NUMBERS, "opt_out", "keyword")
    sequence = make_sequence("text_automated")
    record = make_record("contact", seller, mobile_phone="+14155550134")
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=_due_now())
    worker.run_once("worker-a")
    conn = SequenceConnection.objects.get(pk=result.connection_id)
    assert conn.state == "failed" and conn.failure_reason == "RecipientOptedOut"
    assert not Message.objects.filter(status__in=["queued", "sending", "sent", "delivered"]).exists()
    [note] = Notification.objects.filter(user=seller, kind="sequence_step_failed")
    assert "opted out" in note.body.lower()


def test_seller_sends_the_manual_text_step_and_the_record_moves_on(
    seller, make_record, make_sequence, make_sender_number
):
    from textdesk.messaging.models import Message

    number = make_sender_number(owner=seller)
    sequence = make_sequence("text_manual", "call")
    record = make_record("contact", seller, mobile_phone="+14155550134")
    [result] = actions.connect(seller, sequence.pk, [record.record_key])
    conn = SequenceConnection.objects.get(pk=result.connection_id)
    actions.send_step_text(
        seller,
        conn.pk,
        conn.current_step_id,
        sender_number_id=number.pk,
        to_number="+14155550134",
        body="Edited by the seller",
    )
    [message] = Message.objects.all()
    assert message.body == "Edited by the seller" and message.author_id == seller.pk
    conn.refresh_from_db()
    assert conn.current_step.kind == "call"
    assert conn.history.get().message_id == message.pk
