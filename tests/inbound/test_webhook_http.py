"""Signed webhooks posted over real HTTP to the ASGI application served by uvicorn."""

from __future__ import annotations

import json

import httpx

from tests.inbound.conftest import post_signed, twilio_form

CUSTOMER = "+14155550199"


def messages():
    from textdesk.messaging.models import Message

    return Message.objects.filter(direction="inbound")


def test_signed_inbound_is_stored_once_and_answered_with_empty_twiml(asgi_server, seller_setup):
    form = twilio_form("SM" + "a" * 32, CUSTOMER, seller_setup.number.e164, "Olá! Podemos falar amanhã? 🙂")
    answers = [post_signed(asgi_server, seller_setup.inbound_url, form) for _ in range(6)]  # first + 5 retries
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert answers[0].headers["content-type"].startswith("text/xml") and b"<Response" in answers[0].content
    (message,) = messages()
    assert message.body == "Olá! Podemos falar amanhã? 🙂"
    assert (message.status, message.routing_state) == ("received", "pending")
    assert message.provider_message_id == "SM" + "a" * 32
    assert (message.from_number, message.to_number) == (CUSTOMER, seller_setup.number.e164)


def test_unsigned_and_mis_signed_requests_are_refused_and_store_nothing(asgi_server, seller_setup):
    form = twilio_form("SM" + "b" * 32, CUSTOMER, seller_setup.number.e164, "hello")
    unsigned = post_signed(asgi_server, seller_setup.inbound_url, form, signature="")
    assert unsigned.status_code == 403 and "X-Twilio-Signature" in unsigned.json()["error"]
    forged = post_signed(asgi_server, seller_setup.inbound_url, form, signature="c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ==")
    assert forged.status_code == 403 and forged.json()["error"]
    # Signed for another URL (e.g. the status URL) does not verify either.
    from tests.inbound.conftest import twilio_signature

    elsewhere = post_signed(asgi_server, seller_setup.inbound_url, form,
                            signature=twilio_signature(seller_setup.status_url, form))
    assert elsewhere.status_code == 403
    # Body changed after signing.
    signature = twilio_signature(seller_setup.inbound_url, form)
    tampered = post_signed(asgi_server, seller_setup.inbound_url, {**form, "Body": "hello!"}, signature=signature)
    assert tampered.status_code == 403
    assert not messages().exists()


def test_unknown_key_is_404_with_a_reason(asgi_server, seller_setup):
    url = seller_setup.inbound_url.replace(seller_setup.account.inbound_key, "not-a-key")
    form = twilio_form("SM" + "c" * 32, CUSTOMER, seller_setup.number.e164, "hello")
    answer = post_signed(asgi_server, url, form)
    assert answer.status_code == 404 and answer.json() == {"error": "unknown webhook key"}
    # The status key does not open the inbound route.
    swapped = seller_setup.inbound_url.replace(seller_setup.account.inbound_key, seller_setup.account.status_key)
    assert post_signed(asgi_server, swapped, form).status_code == 404
    assert not messages().exists()


def test_oversize_body_is_413(asgi_server, seller_setup, settings):
    settings.WEBHOOK_MAX_BYTES = 2048
    form = twilio_form("SM" + "d" * 32, CUSTOMER, seller_setup.number.e164, "x" * 5000)
    declared = post_signed(asgi_server, seller_setup.inbound_url, form)
    assert declared.status_code == 413 and "2048" in declared.json()["error"]

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b"Body=" + b"y" * 1000 + b"&"

    path = seller_setup.inbound_url.split("/webhooks/", 1)[1]
    streamed = httpx.post(f"{asgi_server.url}/webhooks/{path}", content=chunks(),
                          headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"})
    assert streamed.status_code == 413
    assert not messages().exists()


def test_malformed_webhook_is_400_and_stores_nothing(asgi_server, seller_setup):
    form = {"MessageSid": "SM" + "e" * 32, "To": seller_setup.number.e164, "Body": "no sender"}
    answer = post_signed(asgi_server, seller_setup.inbound_url, form)
    assert answer.status_code == 400 and "From" in answer.json()["error"]
    too_long = twilio_form("SM" + "f" * 32, "+1" + "5" * 40, seller_setup.number.e164, "hi")
    answer = post_signed(asgi_server, seller_setup.inbound_url, too_long)
    assert answer.status_code == 400 and "From" in answer.json()["error"]
    assert not messages().exists()


def test_a_body_that_is_not_utf8_is_400(asgi_server, seller_setup):
    from tests.inbound.conftest import twilio_signature

    path = seller_setup.inbound_url.split("/webhooks/", 1)[1]
    body = b"MessageSid=SM1&From=%2B14155550199&To=%2B14155550100&Body=\xff\xfe"
    answer = httpx.post(f"{asgi_server.url}/webhooks/{path}", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(seller_setup.inbound_url, {}),
    })
    assert answer.status_code in (400, 403) and answer.json()["error"]
    assert not messages().exists()


def test_wrong_method_is_405(asgi_server, seller_setup):
    path = seller_setup.inbound_url.split("/webhooks/", 1)[1]
    assert httpx.put(f"{asgi_server.url}/webhooks/{path}", content=b"").status_code == 405


def test_nul_characters_are_removed_and_unicode_kept(asgi_server, seller_setup):
    form = twilio_form("SM" + "1" * 32, CUSTOMER, seller_setup.number.e164, "a\x00b 日本語 👍🏽")
    assert post_signed(asgi_server, seller_setup.inbound_url, form).status_code == 200
    assert messages().get().body == "ab 日本語 👍🏽"


def test_a_storage_failure_is_503_and_leaves_nothing(asgi_server, seller_setup, monkeypatch):
    from django.db import DatabaseError

    from textdesk.messaging.actions import intake

    def broken_insert(cursor, row):
        raise DatabaseError("could not extend file: no space left on device")

    form = twilio_form("SM" + "2" * 32, CUSTOMER, seller_setup.number.e164, "hello")
    with monkeypatch.context() as patched:
        patched.setattr(intake, "_insert_message", broken_insert)
        answer = post_signed(asgi_server, seller_setup.inbound_url, form)
    assert answer.status_code == 503 and answer.json()["error"]
    assert not messages().exists()
    # The provider's retry gets it in.
    assert post_signed(asgi_server, seller_setup.inbound_url, form).status_code == 200
    assert messages().count() == 1


def test_status_webhook_applies_delivery_report(asgi_server, seller_setup):
    from textdesk.messaging.models import Message, MessageEvent, UnmatchedStatusUpdate

    sent = Message.objects.create(
        direction="outbound", provider_account=seller_setup.account, sender_number=seller_setup.number,
        from_number=seller_setup.number.e164, to_number=CUSTOMER, body="hi", status="sent",
        provider_message_id="SM" + "3" * 32,
    )
    form = {"MessageSid": sent.provider_message_id, "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
    answer = post_signed(asgi_server, seller_setup.status_url, form)
    assert answer.status_code in (200, 204)
    sent.refresh_from_db()
    assert sent.status == "delivered" and MessageEvent.objects.filter(message=sent, status="delivered").exists()
    # A report for a message we do not know yet is kept for later, not lost.
    early = {"MessageSid": "SM" + "4" * 32, "MessageStatus": "sent", "AccountSid": "AC" + "1" * 32}
    assert post_signed(asgi_server, seller_setup.status_url, early).status_code in (200, 204)
    assert UnmatchedStatusUpdate.objects.filter(provider_message_id="SM" + "4" * 32).exists()


def _post_part(server, account, part: int, total: int, text: str, ref="R1"):
    from tests.inbound.fake_concat import sign

    body = json.dumps({"id": f"P{ref}-{part}", "from": "447700900001", "to": "447700900100", "text": text,
                       "ref": ref, "total": total, "part": part}).encode()
    path = account.inbound_url.split("/webhooks/", 1)[1]
    return httpx.post(f"{server.url}/webhooks/{path}", content=body,
                      headers={"Content-Type": "application/json", "X-Test-Signature": sign("s3cret", body)})


def test_concatenated_parts_become_one_message(asgi_server, make_provider_account):
    account = make_provider_account(kind="test_concat", credentials={"secret": "s3cret"})
    assert _post_part(asgi_server, account, 3, 3, "world!").status_code == 200
    assert _post_part(asgi_server, account, 1, 3, "Hello, ").status_code == 200
    assert _post_part(asgi_server, account, 3, 3, "world!").status_code == 200  # a retried part
    assert not messages().exists()
    assert _post_part(asgi_server, account, 2, 3, "dear ").status_code == 200
    assert _post_part(asgi_server, account, 2, 3, "dear ").status_code == 200  # retried after assembly
    (message,) = messages()
    assert message.body == "Hello, dear world!" and message.segments == 3


def test_one_event_stream_may_carry_messages_and_reports_on_either_url(transactional_db, seller_setup):
    """Providers with a single webhook (e.g. Telnyx) send delivery reports to the inbound URL too."""
    from textdesk.messaging.actions.intake import store_parsed
    from textdesk.messaging.models import Message
    from textdesk.providers.base import InboundSMS, StatusReport

    sent = Message.objects.create(
        direction="outbound", provider_account=seller_setup.account, from_number=seller_setup.number.e164,
        to_number=CUSTOMER, body="hi", status="sent", provider_message_id="out-1",
    )
    store_parsed(seller_setup.account.pk, [InboundSMS("in-1", CUSTOMER, seller_setup.number.e164, "yo")],
                 [StatusReport("out-1", "delivered", "delivered")])
    sent.refresh_from_db()
    assert sent.status == "delivered" and messages().get().body == "yo"


def test_vonage_concatenated_sms_signed_by_the_sdk_is_reassembled(asgi_server, make_provider_account):
    """Vonage's default: GET with the parameters in the query, signed (sha256) with the signature secret."""
    from urllib.parse import urlencode

    from vonage_http_client import Auth

    secret = "signature-secret-0123456789abcdefghij"
    account = make_provider_account(
        kind="vonage", credentials={"api_key": "abcd1234", "api_secret": "x", "signature_secret": secret},
        options={"signature_method": "sha256"},
    )
    path = account.inbound_url.split("://", 1)[1].split("/", 1)[1]

    def part(number: int, text: str):
        params = {"msisdn": "447700900001", "to": "447700900100", "messageId": f"0A00000{number}",
                  "text": text, "type": "text", "keyword": "HELLO", "api-key": "abcd1234",
                  "message-timestamp": "2026-11-21 22:00:00", "concat": "true", "concat-ref": "108",
                  "concat-total": "2", "concat-part": str(number)}
        params["sig"] = Auth(api_key="abcd1234", signature_secret=secret, signature_method="sha256").sign_params(params)
        return httpx.get(f"{asgi_server.url}/{path}?{urlencode(params)}")

    assert part(2, "second half 🙂").status_code in (200, 204)
    assert not messages().exists()
    assert part(1, "First half, ").status_code in (200, 204)
    assert part(1, "First half, ").status_code in (200, 204)  # a retried part
    (message,) = messages()
    assert message.body == "First half, second half 🙂" and message.provider_message_id == "0A000001"
