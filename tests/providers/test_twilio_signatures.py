"""X-Twilio-Signature: our check against the official SDK's RequestValidator, both directions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.providers.helpers import twilio_account
from textdesk.providers.base import WebhookRejected, WebhookRequest
from textdesk.providers.twilio import PROVIDER, compute_signature

TOKEN = "3f9d2c7a1b8e4f6a0c5d9e2b7a4f1c8d"
NOW = dt.datetime(2026, 11, 21, 22, 0, tzinfo=dt.UTC)
PARAMS = {
    "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "From": "+14155550134",
    "To": "+14155550001",
    "Body": "Is 10% off still on?",
    "NumSegments": "1",
    "AccountSid": "AC" + "1" * 32,
}


def form_post(url: str, params: dict, signature: str | None) -> WebhookRequest:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest("POST", url, headers, urlencode(params).encode())


def test_published_sdk_test_vector():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert compute_signature(url, {k: [v] for k, v in params.items()}, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


@pytest.mark.parametrize(
    "signed_url, received_url",
    [
        ("https://textdesk.example.com/webhooks/k1/inbound", "https://textdesk.example.com/webhooks/k1/inbound"),
        ("https://textdesk.example.com:443/webhooks/k1/inbound", "https://textdesk.example.com/webhooks/k1/inbound"),
        ("https://textdesk.example.com/webhooks/k1/inbound", "https://textdesk.example.com:443/webhooks/k1/inbound"),
        ("http://127.0.0.1/webhooks/k1/inbound?x=1", "http://127.0.0.1:8000/webhooks/k1/inbound?x=1"),
    ],
)
def test_webhook_signed_by_the_sdk_is_accepted(signed_url, received_url):
    signature = RequestValidator(TOKEN).compute_signature(signed_url, PARAMS)
    PROVIDER.verify(twilio_account(TOKEN), form_post(received_url, PARAMS, signature), NOW)


def test_repeated_form_fields_are_signed_like_the_sdk():
    from django.http import QueryDict

    body = "MessageSid=SM1&From=%2B1415&To=%2B1416&MediaUrl=b&MediaUrl=a&MediaUrl=a"
    url = "https://textdesk.example.com/webhooks/k1/inbound"
    signature = RequestValidator(TOKEN).compute_signature(url, QueryDict(body))
    request = WebhookRequest(
        "POST",
        url,
        {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature},
        body.encode(),
    )
    PROVIDER.verify(twilio_account(TOKEN), request, NOW)


def test_get_webhook_signed_by_the_sdk_is_accepted():
    url = "https://textdesk.example.com/webhooks/k1/inbound?" + urlencode(PARAMS)
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    request = WebhookRequest("GET", url, {"x-twilio-signature": signature}, b"")
    PROVIDER.verify(twilio_account(TOKEN), request, NOW)
    [message] = PROVIDER.parse_inbound(twilio_account(TOKEN), request).inbound
    assert message.body == "Is 10% off still on?"


def test_json_body_with_body_sha256():
    body = json.dumps({"property": "value", "boolean": True}).encode()
    url = "https://textdesk.example.com/webhooks/k1/status?bodySHA256=" + hashlib.sha256(body).hexdigest()
    validator = RequestValidator(TOKEN)
    signature = validator.compute_signature(url, {})
    assert validator.validate(url, body.decode(), signature)  # the SDK agrees this request is genuine
    headers = {"content-type": "application/json", "x-twilio-signature": signature}
    PROVIDER.verify(twilio_account(TOKEN), WebhookRequest("POST", url, headers, body), NOW)
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.verify(twilio_account(TOKEN), WebhookRequest("POST", url, headers, body + b" "), NOW)
    assert caught.value.status == 403 and "bodySHA256" in caught.value.reason


URL = "https://textdesk.example.com/webhooks/k1/inbound"


@pytest.mark.parametrize("case", ["tampered body", "unsigned", "wrong url", "wrong token", "garbage signature"])
def test_bad_signatures_are_rejected_with_403(case):
    signature = RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    params, url, token = dict(PARAMS), URL, TOKEN
    if case == "tampered body":
        params["Body"] = "Is 90% off still on?"
    elif case == "unsigned":
        signature = None
    elif case == "wrong url":
        url = "https://textdesk.example.com/webhooks/k2/inbound"
    elif case == "wrong token":
        token = "another-token"
    else:
        signature = "not-base64!!"
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.verify(twilio_account(token), form_post(url, params, signature), NOW)
    assert caught.value.status == 403


def _configure_number(simulator, sink, token=TOKEN):
    simulator.state.add_number(
        {
            "number": "+14155550001",
            "account_sid": "AC" + "2" * 32,
            "auth_token": token,
            "sms_url": sink.url + "/webhooks/k1/inbound?tenant=demo",
            "status_callback": sink.url + "/webhooks/k1/status",
        }
    )


def test_simulator_inbound_is_accepted_by_the_sdk_and_by_us(simulator, sink):
    _configure_number(simulator, sink)
    answer = httpx.post(
        simulator.url + "/_sim/inbound", json={"from": "+14155550134", "to": "+14155550001", "body": "Olá 😀 & thanks"}
    )
    assert answer.status_code == 201
    [received] = sink.wait_for(1)
    params = {name: values[0] for name, values in parse_qs(received.body.decode(), keep_blank_values=True).items()}
    assert received.url.endswith("/webhooks/k1/inbound?tenant=demo")
    assert RequestValidator(TOKEN).validate(received.url, params, received.headers["x-twilio-signature"])
    assert not RequestValidator("other").validate(received.url, params, received.headers["x-twilio-signature"])
    request = received.as_webhook()
    PROVIDER.verify(twilio_account(TOKEN), request, NOW)
    [message] = PROVIDER.parse_inbound(twilio_account(TOKEN), request).inbound
    assert (message.from_number, message.to_number, message.body) == ("+14155550134", "+14155550001", "Olá 😀 & thanks")
    assert message.provider_message_id == answer.json()["message_sid"]


def test_simulator_status_callbacks_are_accepted_by_the_sdk(simulator, sink):
    _configure_number(simulator, sink)
    sid = "AC" + "2" * 32
    created = httpx.post(
        f"{simulator.url}/2010-04-01/Accounts/{sid}/Messages.json",
        auth=(sid, TOKEN),
        data={"To": "+14155550134", "From": "+14155550001", "Body": "Hi"},
    )
    assert created.status_code == 201
    callbacks = sink.wait_for(3, "/status")
    assert len(callbacks) == 3
    for received in callbacks:
        params = {k: v[0] for k, v in parse_qs(received.body.decode()).items()}
        assert RequestValidator(TOKEN).validate(received.url, params, received.headers["x-twilio-signature"])
        PROVIDER.verify(twilio_account(TOKEN), received.as_webhook(), NOW)
    statuses = [PROVIDER.parse_status(twilio_account(TOKEN), r.as_webhook()).statuses[0] for r in callbacks]
    assert [s.provider_status for s in statuses] == ["queued", "sent", "delivered"]
    assert {s.provider_message_id for s in statuses} == {created.json()["sid"]}
