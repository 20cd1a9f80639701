"""Opt-out confirmations over real, signed webhooks routed by a real worker: one and only one per opt-out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.inbound.conftest import post_signed, twilio_form, wait_for

CUSTOMER = "+14155550199"
OTHER = "+14155550198"


def _routed(sid):
    from textdesk.messaging.models import Message

    return Message.objects.filter(provider_message_id=sid, routing_state="routed").exists()


def _replies(customer=CUSTOMER):
    from textdesk.messaging.models import Message

    return list(Message.objects.filter(direction="outbound", to_number=customer).order_by("pk"))


def _no_reply_pending():
    from textdesk.jobs.models import Job

    return not Job.objects.filter(kind="compliance_auto_reply", state__in=["pending", "running"]).exists()


def _text(server, setup, sid, body):
    form = twilio_form(sid, CUSTOMER, setup.number.e164, body)
    assert post_signed(server, setup.inbound_url, form).status_code == 200
    return form


@pytest.fixture
def customer(no_gateway, make_record):
    return make_record("contact", no_gateway.seller, mobile_phone=CUSTOMER)


def test_stop_three_times_and_a_retried_webhook_get_exactly_one_confirmation(asgi_server, no_gateway, customer, worker):
    from textdesk.compliance.models import AuditEvent
    from textdesk.jobs.models import Job
    from textdesk.messaging.outbound.send import SendRefused, send_message

    first = _text(asgi_server, no_gateway, "SM" + "a" * 32, "STOP")
    assert post_signed(asgi_server, no_gateway.inbound_url, first).status_code == 200  # the provider retries
    _text(asgi_server, no_gateway, "SM" + "b" * 32, "stop")
    _text(asgi_server, no_gateway, "SM" + "c" * 32, "Stop!")
    for sid in ("a", "b", "c"):
        wait_for(lambda sid=sid: _routed("SM" + sid * 32))
    wait_for(_replies)
    wait_for(_no_reply_pending)

    replies = _replies()
    assert len(replies) == 1
    assert Job.objects.filter(kind="compliance_auto_reply").count() == 1  # the later STOPs queued nothing
    assert "no more messages from this number" in replies[0].body
    assert replies[0].created_at - replies[0].conversation.messages.filter(direction="inbound").earliest(
        "created_at"
    ).created_at < dt.timedelta(minutes=5)
    assert AuditEvent.objects.filter(action="auto_reply", target_id=CUSTOMER).count() == 1
    assert AuditEvent.objects.filter(action="opt_out_changed", target_id=CUSTOMER).count() == 3

    with pytest.raises(SendRefused) as refused:
        send_message(
            user=no_gateway.seller, record=customer, sender_number=no_gateway.number, to_number=CUSTOMER, body="Hi"
        )
    assert refused.value.reason == "RecipientOptedOut"


def test_start_resubscribes_with_a_confirmation_and_a_new_stop_is_confirmed_again(
    asgi_server, no_gateway, customer, worker
):
    from textdesk.messaging.actions.consent import is_opted_out

    for sid, body in (("d", "PARAR"), ("e", "START"), ("f", "STOP")):
        _text(asgi_server, no_gateway, "SM" + sid * 32, body)
        wait_for(lambda sid=sid: _routed("SM" + sid * 32))
        wait_for(_no_reply_pending)
    bodies = [m.body for m in _replies()]
    assert len(bodies) == 3
    assert "não receberá mais mensagens deste número" in bodies[0]  # PARAR is Portuguese: so is the reply
    assert "subscribed again" in bodies[1]
    assert "no more messages from this number" in bodies[2]
    assert is_opted_out(CUSTOMER, no_gateway.number.e164)


def test_help_is_answered_with_the_organisations_text_in_the_customers_language(
    asgi_server, no_gateway, customer, worker, make_record
):
    from textdesk.compliance.models import AutoReplyText

    AutoReplyText.objects.create(kind="help", language="es", text="Ayuda de ACME: llame al 800-123.")
    AutoReplyText.objects.create(
        kind="help", language="es", sender_number=no_gateway.number, text="Línea de Sam: escriba a sam@acme.test."
    )
    AutoReplyText.objects.create(kind="help", language="it", text="Aiuto ACME: chiamate 800-123.")
    make_record("contact", no_gateway.seller, mobile_phone=OTHER)
    _text(asgi_server, no_gateway, "SM" + "g" * 32, "AYUDA")
    wait_for(lambda: _routed("SM" + "g" * 32))
    _text(asgi_server, no_gateway, "SM" + "i" * 32, "ayuda!")  # again within five minutes: answered once
    wait_for(lambda: _routed("SM" + "i" * 32))
    form = twilio_form("SM" + "h" * 32, OTHER, no_gateway.number.e164, "aiuto")
    assert post_signed(asgi_server, no_gateway.inbound_url, form).status_code == 200
    wait_for(lambda: _replies(OTHER))
    wait_for(_no_reply_pending)
    assert [m.body for m in _replies()] == ["Línea de Sam: escriba a sam@acme.test."]
    assert [m.body for m in _replies(OTHER)] == ["Aiuto ACME: chiamate 800-123."]


def test_no_confirmation_later_than_five_minutes_after_the_opt_out(no_gateway, customer):
    from textdesk.compliance.actions import replies
    from textdesk.messaging.actions.consent import record_consent
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.models import Message
    from textdesk.providers.base import InboundSMS

    store_inbound(no_gateway.account.pk, [InboundSMS("SMlate", CUSTOMER, no_gateway.number.e164, "hello")])
    route_pending("t")
    message = Message.objects.get(provider_message_id="SMlate")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(minutes=6))
    message.refresh_from_db()
    event = record_consent(CUSTOMER, no_gateway.number.e164, "opt_out", "free_text", message=message)
    assert replies.answer(event) is None
    assert _replies() == []
