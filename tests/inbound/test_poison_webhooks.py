"""Correctly signed webhooks carrying text no database can store (NUL, a lone surrogate) are kept, repaired,
and answered 2xx: never a 503 that the provider would retry for days."""

from __future__ import annotations

import pytest

from tests.inbound.conftest import post_signed, twilio_form
from textdesk.providers.base import InboundSMS, ParsedWebhook, StatusReport

CUSTOMER = "+14155550199"


def test_nul_in_an_inbound_message_id_and_body_is_stored_repaired(asgi_server, seller_setup, caplog):
    from textdesk.messaging.models import Message

    form = twilio_form("SM\x00" + "d" * 30, CUSTOMER, seller_setup.number.e164, "hi\x00 there")
    answers = [post_signed(asgi_server, seller_setup.inbound_url, form) for _ in range(2)]  # first + a retry
    assert [a.status_code for a in answers] == [200, 200]
    (message,) = Message.objects.filter(direction="inbound")
    assert (message.provider_message_id, message.body) == ("SM" + "d" * 30, "hi there")
    assert "unstorable characters" in caplog.text


@pytest.mark.parametrize(
    "extra",
    [
        {"ErrorCode": "30\x0003", "ErrorMessage": "Unreachable\x00 handset"},
        {"ErrorCode": "30003", "ErrorMessage": "\x00"},
    ],
)
def test_nul_in_a_status_reports_code_or_reason_is_answered_2xx_and_applied(
    asgi_server, seller_setup, make_record, extra
):
    from textdesk.messaging.models import Message

    sent = Message.objects.create(
        direction="outbound",
        provider_account=seller_setup.account,
        sender_number=seller_setup.number,
        from_number=seller_setup.number.e164,
        to_number=CUSTOMER,
        body="Hello",
        status="sent",
        provider_message_id="SM" + "e" * 32,
    )
    form = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "undelivered", "AccountSid": "AC" + "1" * 32, **extra}
    answer = post_signed(asgi_server, seller_setup.status_url, form)
    assert answer.status_code in (200, 204), answer.content
    sent.refresh_from_db()
    assert sent.status == "undelivered"
    assert "\x00" not in sent.provider_error_code + sent.provider_error_text


def test_nul_in_a_status_reports_id_is_answered_2xx(asgi_server, seller_setup):
    form = {"MessageSid": "SM\x00" + "f" * 31, "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
    assert post_signed(asgi_server, seller_setup.status_url, form).status_code in (200, 204)


def test_lone_surrogates_are_replaced_and_nul_dropped_everywhere():
    from textdesk.messaging.inbound.intake import made_storable

    parsed = ParsedWebhook(
        inbound=[InboundSMS(provider_message_id="id\ud800", from_number="+1415\x00", to_number="+1", body="a\udfffb")],
        statuses=[StatusReport(provider_message_id="x\udc00", provider_status="failed\x00", status=None)],
    )
    repaired = made_storable(parsed, account_id=1)
    (sms,), (report,) = repaired.inbound, repaired.statuses
    assert (sms.provider_message_id, sms.from_number, sms.body) == ("id\ufffd", "+1415", "a\ufffdb")
    assert (report.provider_message_id, report.provider_status) == ("x\ufffd", "failed")
    clean = ParsedWebhook(inbound=[InboundSMS(provider_message_id="a", from_number="b", to_number="c", body="d")])
    assert made_storable(clean, account_id=1) is clean
