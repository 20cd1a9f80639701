"""Vibes adapter: recorded XML callbacks and send answers, the mtMessage it sends, parts, hostile XML."""

from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.providers._fake_api import FakeProviderAPI
from tests.providers._fake_api_rest import fixture_files, load_cases, run_send_case, run_webhook_case
from textdesk.providers import vibes
from textdesk.providers.base import AccountConfig, OutboundSMS, WebhookRejected, WebhookRequest
from textdesk.providers.registry import get_provider

CREDENTIALS = {"username": "acme-vibes", "password": "vibes-secret"}
ACCOUNT = AccountConfig(
    kind="vibes", credentials=CREDENTIALS, status_url="https://td.example.com/webhooks/status-key/status"
)
MESSAGE = OutboundSMS(
    from_number="+13125550140",
    to_number="+18475551212",
    body="Hi Ana, the quote is ready <see attached> & signed.",
    idempotency_key="0f9c7a52-3b7e-4a8e-9d59-1c2b3a4d5e6f",
    client_reference="4711",
    destination_carrier="103",
)
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
CASES = load_cases("vibes")


def account_at(url: str) -> AccountConfig:
    return AccountConfig(
        kind="vibes", credentials=CREDENTIALS, options={"base_url": url}, status_url=ACCOUNT.status_url
    )


def test_the_registry_knows_it():
    assert get_provider("vibes") is vibes.PROVIDER


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_recorded_fixture(case):
    if "request" in case:
        run_webhook_case(vibes.PROVIDER, ACCOUNT, case)
    else:
        run_send_case(vibes.PROVIDER, account_at, case, MESSAGE)


def test_every_fixture_file_is_used():
    assert {p.stem for p in fixture_files("vibes")} == {"delivery_reports", "inbound", "send_responses"}


def _sent(api: FakeProviderAPI, message: OutboundSMS):
    api.answer(200, '<?xml version="1.0"?><mtMessage messageId="VB-1" submitterMessageId="4711"/>')
    with httpx.Client(timeout=5) as client:
        return vibes.PROVIDER.send(account_at(api.url), message, client)


def test_send_speaks_the_mt_message_with_the_customers_carrier():
    api = FakeProviderAPI().start()
    try:
        result = _sent(api, MESSAGE)
        assert (result.provider_message_id, result.status, result.part_ids) == ("VB-1", "queued", ())
        [received] = api.received
        assert (received.method, received.path) == ("POST", "/MessageApi/mt/messages")
        assert received.headers["authorization"] == "Basic " + base64.b64encode(b"acme-vibes:vibes-secret").decode()
        assert received.headers["content-type"] == "application/xml"
        root = ET.fromstring(received.body)
        assert root.tag == "mtMessage"
        assert root.attrib == {"submitterMessageId": "4711", "splitLongMessage": "true"}
        assert root.find("destination").attrib == {"address": "+18475551212", "carrier": "103", "type": "MDN"}
        assert root.find("source").attrib == {"address": "+13125550140", "type": "MDN"}
        assert root.find("text").text == MESSAGE.body
        assert root.find("receiptOption").attrib == {"callbackUrl": ACCOUNT.status_url}
    finally:
        api.stop()


def test_a_long_text_is_tracked_in_parts_named_after_the_original_id():
    api = FakeProviderAPI().start()
    try:
        result = _sent(api, OutboundSMS(**{**MESSAGE.__dict__, "body": "x" * 400}))
        assert result.segments == 3
        assert result.part_ids == ("VB-1:1", "VB-1:2", "VB-1:3")
    finally:
        api.stop()


def test_a_short_code_sender_is_named_as_such():
    api = FakeProviderAPI().start()
    try:
        _sent(api, OutboundSMS(**{**MESSAGE.__dict__, "from_number": "98765", "destination_carrier": ""}))
        root = ET.fromstring(api.received[0].body)
        assert root.find("source").attrib == {"address": "98765", "type": "SC"}
        assert "carrier" not in root.find("destination").attrib
    finally:
        api.stop()


def test_a_billion_laughs_document_is_refused_before_parsing():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<moMessage messageId='&lol2;'/>"
    )
    request = WebhookRequest("POST", "https://td.example.com/webhooks/k/inbound", {"content-type": "text/xml"}, bomb)
    with pytest.raises(WebhookRejected) as caught:
        vibes.PROVIDER.parse_inbound(ACCOUNT, request)
    assert caught.value.status == 400


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_credentials_are_asked_of_inbound_posts_only():
    account = AccountConfig(kind="vibes", credentials={**CREDENTIALS, "webhook_username": "v", "webhook_password": "p"})
    inbound = "https://td.example.com/webhooks/in-key/inbound"
    status = "https://td.example.com/webhooks/st-key/status"
    vibes.PROVIDER.verify(account, WebhookRequest("POST", inbound, {"authorization": _basic("v", "p")}, b""), NOW)
    with pytest.raises(WebhookRejected) as caught:
        vibes.PROVIDER.verify(account, WebhookRequest("POST", inbound, {}, b""), NOW)
    assert caught.value.status == 401
    vibes.PROVIDER.verify(account, WebhookRequest("POST", status, {}, b""), NOW)  # Vibes cannot send them there
