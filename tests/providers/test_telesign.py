"""Telesign adapter: recorded callbacks (signed), send answers, and the callback signature against the official SDK."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse

import httpx
import pytest

from tests.providers._fake_api import FakeProviderAPI
from tests.providers._fake_api_rest import (
    covered_codes,
    fixture_files,
    load_cases,
    run_send_case,
    run_webhook_case,
)
from textdesk.providers import telesign
from textdesk.providers.base import AccountConfig, OutboundSMS, OutcomeUnknownError, WebhookRejected, WebhookRequest

# The example credentials of Telesign's "authenticate callbacks" page.
CUSTOMER_ID = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
API_KEY = "ABC12345yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="
ACCOUNT = AccountConfig(kind="telesign", credentials={"customer_id": CUSTOMER_ID, "api_key": API_KEY})
MESSAGE = OutboundSMS(
    from_number="+15555550000",
    to_number="+15555551234",
    body="Hi Ana, the quote is ready.",
    idempotency_key="KEY-1",
    client_reference="msg-42",
)
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)

# SMS status codes documented for delivery callbacks and send answers.
DOCUMENTED_STATUS_CODES = {
    "200",
    "203",
    "207",
    "210",
    "211",
    "220",
    "221",
    "222",
    "229",
    "230",
    "231",
    "233",
    "237",
    "238",
    "250",
    "251",
    "290",
}


def account_at(url: str) -> AccountConfig:
    return AccountConfig(kind="telesign", credentials=dict(ACCOUNT.credentials), options={"base_url": url})


@pytest.mark.parametrize("case", [c for _, c in load_cases("telesign")], ids=[i for i, _ in load_cases("telesign")])
def test_recorded_fixture(case):
    if "request" in case:
        run_webhook_case(telesign.PROVIDER, ACCOUNT, case)
    else:
        run_send_case(telesign.PROVIDER, account_at, case, MESSAGE)


def test_every_fixture_is_used_and_every_documented_value_is_mapped():
    assert {p.stem for p in fixture_files("telesign")} == {"callbacks_statuses", "inbound", "send_responses"}
    statuses, codes = covered_codes("telesign")
    assert DOCUMENTED_STATUS_CODES == set(telesign.STATUS_MAP)
    assert DOCUMENTED_STATUS_CODES <= statuses, DOCUMENTED_STATUS_CODES - statuses
    assert set(telesign.ERROR_MAP) <= codes, set(telesign.ERROR_MAP) - codes


def test_send_is_a_basic_auth_form_post():
    api = FakeProviderAPI().start()
    try:
        api.answer(
            200,
            {
                "reference_id": "0123456789ABCDEF0123456789ABCDEF",
                "status": {"code": 290, "description": "Message in progress"},
            },
        )
        with httpx.Client(timeout=5) as client:
            result = telesign.PROVIDER.send(account_at(api.url), MESSAGE, client)
        assert (result.provider_message_id, result.status) == ("0123456789ABCDEF0123456789ABCDEF", "queued")
        [received] = api.received
        assert (received.method, received.path) == ("POST", "/v1/messaging")
        expected_auth = "Basic " + base64.b64encode(f"{CUSTOMER_ID}:{API_KEY}".encode()).decode()
        assert received.headers["authorization"] == expected_auth
        assert received.headers["content-type"] == "application/x-www-form-urlencoded"
        assert dict(urllib.parse.parse_qsl(received.body.decode())) == {
            "phone_number": "15555551234",
            "message": "Hi Ana, the quote is ready.",
            "message_type": "ARN",
            "external_id": "msg-42",
            "sender_id": "15555550000",
        }
    finally:
        api.stop()


def test_our_request_has_the_fields_the_official_sdk_sends():
    sdk = pytest.importorskip("telesign.messaging")
    from telesign.util import AuthMethod

    api = FakeProviderAPI().start()
    try:
        for _ in range(2):
            api.answer(200, {"reference_id": "0123456789ABCDEF0123456789ABCDEF", "status": {"code": 290}})
        client = sdk.MessagingClient(CUSTOMER_ID, API_KEY, rest_endpoint=api.url, auth_method=AuthMethod.BASIC.value)
        client.message(
            "15555551234", "Hi Ana, the quote is ready.", "ARN", external_id="msg-42", sender_id="15555550000"
        )
        with httpx.Client(timeout=5) as http:
            telesign.PROVIDER.send(account_at(api.url), MESSAGE, http)
        theirs, ours = api.received
        assert (ours.method, ours.path) == (theirs.method, theirs.path)
        assert ours.headers["authorization"] == theirs.headers["authorization"]
        assert dict(urllib.parse.parse_qsl(ours.body.decode())) == dict(urllib.parse.parse_qsl(theirs.body.decode()))
    finally:
        api.stop()


def test_slow_answer_means_the_outcome_is_unknown():
    api = FakeProviderAPI().start()
    try:
        api.answer(200, {}, hang=True)
        with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as client:
            with pytest.raises(OutcomeUnknownError):
                telesign.PROVIDER.send(account_at(api.url), MESSAGE, client)
    finally:
        api.stop()


def test_answer_without_reference_id_means_the_outcome_is_unknown():
    api = FakeProviderAPI().start()
    try:
        api.answer(200, {"status": {"code": 290}})
        with httpx.Client(timeout=5) as client, pytest.raises(OutcomeUnknownError):
            telesign.PROVIDER.send(account_at(api.url), MESSAGE, client)
    finally:
        api.stop()


# ---------------------------------------------------------------- callback signatures

BODY = json.dumps(
    {
        "status": {"code": 200, "description": "Delivered to handset", "updated_on": "2016-10-21T14:05:36.181346Z"},
        "reference_id": "0123456789ABCDEF0123456789ABCDEF",
    }
).encode()


def _callback(authorization: str | None, body: bytes = BODY, header: str = "authorization") -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers[header] = authorization
    return WebhookRequest("POST", "https://td.example.com/webhooks/k/status", headers, body)


def test_signature_is_hmac_sha256_of_the_body_with_the_decoded_key():
    by_hand = base64.b64encode(hmac.new(base64.b64decode(API_KEY), BODY, hashlib.sha256).digest()).decode()
    assert telesign.sign_callback(API_KEY, BODY) == by_hand
    telesign.PROVIDER.verify(ACCOUNT, _callback(f"TSA {CUSTOMER_ID}:{by_hand}"), NOW)


def test_official_sdk_accepts_our_signature_and_we_accept_what_it_accepts():
    util = pytest.importorskip("telesign.util")
    ours = telesign.sign_callback(API_KEY, BODY)
    assert util.verify_telesign_callback_signature(API_KEY, ours, BODY.decode())
    assert not util.verify_telesign_callback_signature(API_KEY, ours, BODY.decode().replace("200", "210"))
    telesign.PROVIDER.verify(
        ACCOUNT,
        _callback(telesign.callback_authorization(CUSTOMER_ID, API_KEY, BODY), header="x-ts-authorization"),
        NOW,
    )


@pytest.mark.parametrize(
    ("authorization", "body", "status", "reason"),
    [
        (None, BODY, 401, "missing Authorization header"),
        ("Basic abc", BODY, 401, "Authorization is not 'TSA <customer id>:<signature>'"),
        (f"TSA {CUSTOMER_ID}", BODY, 401, "Authorization is not 'TSA <customer id>:<signature>'"),
        (
            "TSA 00000000-0000-0000-0000-000000000000:" + telesign.sign_callback(API_KEY, BODY),
            BODY,
            403,
            "callback is for another customer id",
        ),
        (
            telesign.callback_authorization(CUSTOMER_ID, API_KEY, BODY),
            BODY.replace(b"200", b"210"),
            403,
            "signature does not match the body",
        ),
        (
            telesign.callback_authorization(CUSTOMER_ID, base64.b64encode(b"another key").decode(), BODY),
            BODY,
            403,
            "signature does not match the body",
        ),
    ],
)
def test_unsigned_or_tampered_callbacks_are_rejected(authorization, body, status, reason):
    with pytest.raises(WebhookRejected) as caught:
        telesign.PROVIDER.verify(ACCOUNT, _callback(authorization, body), NOW)
    assert (caught.value.status, caught.value.reason) == (status, reason)
