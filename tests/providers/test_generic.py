"""The generic HTTP gateway contract: our sends to the simulator's gateway API, and signed webhooks both ways."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import pytest

from textdesk.domain import failures
from textdesk.providers import generic
from textdesk.providers.base import (
    AccountConfig,
    OutboundSMS,
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
    WebhookRejected,
    WebhookRequest,
)
from textdesk.providers.generic import PROVIDER

API_KEY = "gw-api-key-1"
SECRET = "gw-signing-secret-1"
OURS = "+14155550009"
CUSTOMER = "+14155550134"


def gateway_account(base_url: str, api_key: str = API_KEY, secret: str = SECRET) -> AccountConfig:
    return AccountConfig(
        kind="generic", credentials={"api_key": api_key, "signing_secret": secret}, options={"base_url": base_url}
    )


@pytest.fixture
def account(simulator, sink):
    simulator.state.add_number(
        {
            "number": OURS,
            "api": "generic",
            "api_key": API_KEY,
            "signing_secret": SECRET,
            "sms_url": sink.url + "/webhooks/g/inbound",
            "status_callback": sink.url + "/webhooks/g/status",
        }
    )
    return gateway_account(simulator.url + "/generic")


def outbound(key="msg-42", to=CUSTOMER, body="Hello from the seller"):
    return OutboundSMS(from_number=OURS, to_number=to, body=body, idempotency_key=key)


def signed(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> WebhookRequest:
    headers = {name.lower(): value for name, value in generic.signed_headers(secret, body, timestamp).items()}
    return WebhookRequest("POST", "https://textdesk.example.com/webhooks/g/status", headers, body)


def test_send_is_idempotent_on_our_id(simulator, account):
    with httpx.Client(timeout=5) as client:
        first = PROVIDER.send(account, outbound(), client)
        again = PROVIDER.send(account, outbound(), client)
        other = PROVIDER.send(account, outbound(key="msg-43"), client)
    assert first.provider_message_id == again.provider_message_id != other.provider_message_id
    assert first.status == "queued"
    messages = httpx.get(simulator.url + "/_sim/messages", params={"direction": "outbound"}).json()
    assert [m["our_id"] for m in messages] == ["msg-42", "msg-43"]


def test_send_refusals(simulator, account):
    with httpx.Client(timeout=5) as client:
        with pytest.raises(PermanentProviderError) as caught:
            PROVIDER.send(account, outbound(to="0800"), client)
        assert caught.value.reason == failures.INVALID_SENDING_PARAMETERS
        with pytest.raises(PermanentProviderError) as caught:
            PROVIDER.send(gateway_account(simulator.url + "/generic", api_key="wrong"), outbound(), client)
        assert caught.value.reason == failures.PROVIDER_AUTH_FAILED
        simulator.state.add_rule({"http_status": 503, "times": 1})
        with pytest.raises(RetryableProviderError):
            PROVIDER.send(account, outbound(), client)
        simulator.state.add_rule({"error_code": 21610, "times": 1})
        with pytest.raises(PermanentProviderError) as caught:
            PROVIDER.send(account, outbound(), client)
        assert (caught.value.reason, caught.value.opt_out) == (failures.RECIPIENT_OPTED_OUT, True)
        simulator.state.add_rule({"delay": 1.0, "times": 1})
    with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as client, pytest.raises(OutcomeUnknownError):
        PROVIDER.send(account, outbound(key="slow"), client)


def test_simulator_delivery_reports_are_signed_and_parse(simulator, sink, account):
    simulator.state.add_rule({"to_pattern": "+1415555099*", "async_error_code": 30007})
    with httpx.Client(timeout=5) as client:
        ok = PROVIDER.send(account, outbound(), client)
        filtered = PROVIDER.send(account, outbound(key="m-2", to="+14155550991"), client)
    received = sink.wait_for(4, "/status")
    reports = {}
    for request in received:
        webhook = request.as_webhook()
        PROVIDER.verify(account, webhook, dt.datetime.now(dt.UTC))
        [report] = PROVIDER.parse_status(account, webhook).statuses
        reports.setdefault(report.provider_message_id, []).append(report)
    assert [r.status for r in reports[ok.provider_message_id]] == ["sent", "delivered"]
    final = reports[filtered.provider_message_id][-1]
    assert (final.status, final.failure_reason, final.permanent) == ("undelivered", failures.CARRIER_FILTERED, True)


def test_simulator_inbound_is_signed_and_parses(simulator, sink, account):
    httpx.post(simulator.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": "Sounds good"})
    [request] = sink.wait_for(1, "/inbound")
    webhook = request.as_webhook()
    PROVIDER.verify(account, webhook, dt.datetime.now(dt.UTC))
    [message] = PROVIDER.parse_inbound(account, webhook).inbound
    assert (message.from_number, message.to_number, message.body) == (CUSTOMER, OURS, "Sounds good")


def test_verify_accepts_fresh_signature_and_rejects_the_rest():
    account = gateway_account("http://unused")
    body = json.dumps({"id": "gw-1", "status": "delivered"}).encode()
    now = dt.datetime.now(dt.UTC)
    PROVIDER.verify(account, signed(body), now)
    stale = signed(body, timestamp=int(time.time()) - 301)
    bad = [stale, signed(body, secret="other"), WebhookRequest("POST", "https://x", {}, body)]
    tampered = signed(body)
    bad.append(WebhookRequest("POST", tampered.url, tampered.headers, body + b" "))
    for request in bad:
        with pytest.raises(WebhookRejected) as caught:
            PROVIDER.verify(account, request, now)
        assert caught.value.status == 403


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert generic.sign("s3cret", 1700000000, b'{"a":1}') == expected


@pytest.mark.parametrize(
    "body, status",
    [
        (b"not json", 400),
        (b"[]", 400),
        (b'{"id": "1", "to": "+1"}', 400),
        (b'{"from": "+1", "to": "+2"}', 400),
    ],
)
def test_malformed_inbound_is_400(body, status):
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.parse_inbound(gateway_account(""), signed(body))
    assert caught.value.status == status


def test_malformed_status_is_400_and_wrong_type_415():
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.parse_status(gateway_account(""), signed(b'{"id": "1", "status": "lost"}'))
    assert caught.value.status == 400 and "lost" in caught.value.reason
    request = WebhookRequest("POST", "https://x", {"content-type": "text/plain"}, b"{}")
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.parse_status(gateway_account(""), request)
    assert caught.value.status == 415


def test_not_delivered_with_unknown_code_reads_as_unknown():
    body = json.dumps({"id": "gw-9", "status": "not_delivered", "reason": "handset busy", "code": "E42"}).encode()
    [report] = PROVIDER.parse_status(gateway_account(""), signed(body)).statuses
    assert (report.status, report.failure_reason, report.error_code, report.error_text) == (
        "undelivered",
        failures.UNKNOWN,
        "E42",
        "handset busy",
    )


def test_concurrent_retries_of_one_id_send_once(simulator, account):
    from concurrent.futures import ThreadPoolExecutor

    simulator.state.add_rule({"delay": 0.2})  # every request waits, so the copies overlap in the simulator

    def send_copy(_):
        with httpx.Client(timeout=5) as client:
            return PROVIDER.send(account, outbound(key="same-id"), client).provider_message_id

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(send_copy, range(6)))
    assert len(ids) == 1
    assert len(httpx.get(simulator.url + "/_sim/messages", params={"direction": "outbound"}).json()) == 1
