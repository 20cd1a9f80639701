"""Signed webhooks posted over real HTTP to the ASGI application served by uvicorn."""

from __future__ import annotations

import json

import httpx
import pytest

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

    elsewhere = post_signed(
        asgi_server, seller_setup.inbound_url, form, signature=twilio_signature(seller_setup.status_url, form)
    )
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
    streamed = httpx.post(
        f"{asgi_server.url}/webhooks/{path}",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
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
    answer = httpx.post(
        f"{asgi_server.url}/webhooks/{path}",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(seller_setup.inbound_url, {}),
        },
    )
    assert answer.status_code in (400, 403) and answer.json()["error"]
    assert not messages().exists()


def test_wrong_method_is_405(asgi_server, seller_setup):
    path = seller_setup.inbound_url.split("/webhooks/", 1)[1]
    assert httpx.put(f"{asgi_server.url}/webhooks/{path}", content=b"").status_code == 405


def test_nul_characters_are_removed_and_unicode_kept(asgi_server, seller_setup):
    form = twilio_form("SM" + "1" * 32, CUSTOMER, seller_setup.number.e164, "a\x00b 日本語 👍🏽")
    assert post_signed(asgi_server, seller_setup.inbound_url, form).status_code == 200
    assert messages().get().body == "ab 日本語 👍🏽"


def _refuse_inserts(cursor, vendor: str) -> None:
    """A real failure of the durable write: the database itself refuses the row (as with a full disk)."""
    if vendor == "postgresql":
        cursor.execute(
            "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file: no space left on device'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON messaging_message FOR EACH ROW EXECUTE FUNCTION test_refuse()"
        )
    else:
        cursor.execute(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON messaging_message "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )


def _accept_inserts(cursor, vendor: str) -> None:
    if vendor == "postgresql":
        cursor.execute("DROP TRIGGER IF EXISTS test_refuse ON messaging_message")
        cursor.execute("DROP FUNCTION IF EXISTS test_refuse()")
    else:
        cursor.execute("DROP TRIGGER IF EXISTS test_refuse")


def test_a_storage_failure_is_503_and_leaves_nothing(asgi_server, seller_setup):
    from django.db import connection

    form = twilio_form("SM" + "2" * 32, CUSTOMER, seller_setup.number.e164, "hello")
    with connection.cursor() as cursor:
        _refuse_inserts(cursor, connection.vendor)
        try:
            answer = post_signed(asgi_server, seller_setup.inbound_url, form)
        finally:
            _accept_inserts(cursor, connection.vendor)
    assert answer.status_code == 503 and answer.json()["error"]
    assert not messages().exists()
    # The provider's retry gets it in.
    assert post_signed(asgi_server, seller_setup.inbound_url, form).status_code == 200
    assert messages().count() == 1


def test_on_postgresql_a_webhook_connection_that_broke_while_idle_is_replaced(asgi_server, seller_setup):
    """The one-message webhook is stored from the event loop on pooled connections; one the server dropped
    while it sat idle costs the next webhook nothing but a reconnect."""
    from django.db import connection

    from textdesk.messaging.inbound.intake_pg import APPLICATION_NAME

    if connection.vendor != "postgresql":
        pytest.skip("the event-loop write path is PostgreSQL's")
    first = twilio_form("SM" + "4" * 32, CUSTOMER, seller_setup.number.e164, "one")
    assert post_signed(asgi_server, seller_setup.inbound_url, first).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME]
        )
        assert cursor.fetchall(), "the webhook was not stored through the pooled connection"
    second = twilio_form("SM" + "5" * 32, CUSTOMER, seller_setup.number.e164, "two")
    answers = [post_signed(asgi_server, seller_setup.inbound_url, second) for _ in range(3)]  # + 2 retries
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sorted(messages().values_list("body", flat=True)) == ["one", "two"]


def test_status_webhook_applies_delivery_report(asgi_server, seller_setup):
    from textdesk.messaging.models import Message, MessageEvent, UnmatchedStatusUpdate

    sent = Message.objects.create(
        direction="outbound",
        provider_account=seller_setup.account,
        sender_number=seller_setup.number,
        from_number=seller_setup.number.e164,
        to_number=CUSTOMER,
        body="hi",
        status="sent",
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

    body = json.dumps(
        {
            "id": f"P{ref}-{part}",
            "from": "447700900001",
            "to": "447700900100",
            "text": text,
            "ref": ref,
            "total": total,
            "part": part,
        }
    ).encode()
    path = account.inbound_url.split("/webhooks/", 1)[1]
    return httpx.post(
        f"{server.url}/webhooks/{path}",
        content=body,
        headers={"Content-Type": "application/json", "X-Test-Signature": sign("s3cret", body)},
    )


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
    from textdesk.messaging.inbound.intake import store_parsed
    from textdesk.messaging.models import Message
    from textdesk.providers.base import InboundSMS, StatusReport

    sent = Message.objects.create(
        direction="outbound",
        provider_account=seller_setup.account,
        from_number=seller_setup.number.e164,
        to_number=CUSTOMER,
        body="hi",
        status="sent",
        provider_message_id="out-1",
    )
    store_parsed(
        seller_setup.account.pk,
        [InboundSMS("in-1", CUSTOMER, seller_setup.number.e164, "yo")],
        [StatusReport("out-1", "delivered", "delivered")],
    )
    sent.refresh_from_db()
    assert sent.status == "delivered" and messages().get().body == "yo"


def test_vonage_concatenated_sms_signed_by_the_sdk_is_reassembled(asgi_server, make_provider_account):
    """Vonage's default: GET with the parameters in the query, signed (sha256) with the signature secret."""
    from urllib.parse import urlencode

    from vonage_http_client import Auth

    secret = "signature-secret-0123456789abcdefghij"
    account = make_provider_account(
        kind="vonage",
        credentials={"api_key": "abcd1234", "api_secret": "x", "signature_secret": secret},
        options={"signature_method": "sha256"},
    )
    path = account.inbound_url.split("://", 1)[1].split("/", 1)[1]

    def part(number: int, text: str):
        params = {
            "msisdn": "447700900001",
            "to": "447700900100",
            "messageId": f"0A00000{number}",
            "text": text,
            "type": "text",
            "keyword": "HELLO",
            "api-key": "abcd1234",
            "message-timestamp": "2026-11-21 22:00:00",
            "concat": "true",
            "concat-ref": "108",
            "concat-total": "2",
            "concat-part": str(number),
        }
        params["sig"] = Auth(api_key="abcd1234", signature_secret=secret, signature_method="sha256").sign_params(params)
        return httpx.get(f"{asgi_server.url}/{path}?{urlencode(params)}")

    assert part(2, "second half 🙂").status_code in (200, 204)
    assert not messages().exists()
    assert part(1, "First half, ").status_code in (200, 204)
    assert part(1, "First half, ").status_code in (200, 204)  # a retried part
    (message,) = messages()
    assert message.body == "First half, second half 🙂" and message.provider_message_id == "0A000001"
