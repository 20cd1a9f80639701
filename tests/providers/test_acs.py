"""Azure Communication Services adapter: recorded Event Grid deliveries, send answers, HMAC signing, repeatability."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
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
from textdesk.providers import acs
from textdesk.providers.base import (
    AccountConfig,
    OutboundSMS,
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
    WebhookRejected,
    WebhookRequest,
)

ACCESS_KEY = base64.b64encode(b"textdesk-test-acs-access-key-32b").decode()
SECOND_KEY = base64.b64encode(b"textdesk-test-acs-secondary-key!").decode()
CONNECTION = f"endpoint=https://contoso-sms.communication.azure.com/;accesskey={ACCESS_KEY}"
ACCOUNT = AccountConfig(kind="acs", credentials={"connection_string": CONNECTION})
MESSAGE = OutboundSMS(
    from_number="+15555555556",
    to_number="+15555555555",
    body="Hi Ana, the quote is ready.",
    idempotency_key="3f2b8e1c-7d4a-4b8e-9c1d-2a3b4c5d6e7f",
    client_reference="msg-42",
)

# The documented values of SMSDeliveryReportReceived.deliveryStatus.
DOCUMENTED_DELIVERY_STATUSES = {"Delivered", "Failed"}


def account_at(url: str, **credentials) -> AccountConfig:
    return AccountConfig(
        kind="acs", credentials={"connection_string": CONNECTION, **credentials}, options={"base_url": url}
    )


@pytest.mark.parametrize("case", [c for _, c in load_cases("acs")], ids=[i for i, _ in load_cases("acs")])
def test_recorded_fixture(case):
    if "request" in case:
        run_webhook_case(acs.PROVIDER, ACCOUNT, case)
    else:
        run_send_case(acs.PROVIDER, account_at, case, MESSAGE)


def test_every_fixture_is_used_and_every_documented_value_is_mapped():
    assert {p.stem for p in fixture_files("acs")} == {
        "inbound",
        "delivery_reports",
        "validation",
        "malformed",
        "send_responses",
    }
    statuses, codes = covered_codes("acs")
    assert DOCUMENTED_DELIVERY_STATUSES == set(acs.STATUS_MAP)
    assert set(acs.STATUS_MAP) <= statuses, set(acs.STATUS_MAP) - statuses
    assert set(acs.ERROR_MAP) <= codes, set(acs.ERROR_MAP) - codes


def _expected_authorization(received, key_b64: str) -> str:
    """The HMAC-SHA256 scheme computed by hand from what the server received."""
    string_to_sign = "\n".join(
        [
            received.method,
            received.path,
            f"{received.headers['x-ms-date']};{received.headers['host']};{received.headers['x-ms-content-sha256']}",
        ]
    )
    digest = hmac.new(base64.b64decode(key_b64), string_to_sign.encode(), hashlib.sha256).digest()
    return "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" + base64.b64encode(digest).decode()


def _accepted(message_id="Outgoing_1"):
    return {
        "value": [
            {
                "to": "+15555555555",
                "messageId": message_id,
                "httpStatusCode": 202,
                "repeatabilityResult": "accepted",
                "successful": True,
            }
        ]
    }


def test_send_signs_the_request_and_sends_the_documented_body():
    api = FakeProviderAPI().start()
    try:
        api.answer(202, _accepted())
        with httpx.Client(timeout=5) as client:
            result = acs.PROVIDER.send(account_at(api.url), MESSAGE, client)
        assert result.provider_message_id == "Outgoing_1"
        [received] = api.received
        assert received.method == "POST"
        assert received.path == "/sms?api-version=2021-03-07"
        assert (
            received.headers["x-ms-content-sha256"] == base64.b64encode(hashlib.sha256(received.body).digest()).decode()
        )
        assert received.headers["authorization"] == _expected_authorization(received, ACCESS_KEY)
        body = received.json()
        assert body["from"] == "+15555555556"
        assert body["message"] == "Hi Ana, the quote is ready."
        assert body["smsSendOptions"] == {"enableDeliveryReport": True, "tag": "msg-42"}
        [recipient] = body["smsRecipients"]
        assert recipient["to"] == "+15555555555"
        assert recipient["repeatabilityRequestId"] == "3f2b8e1c-7d4a-4b8e-9c1d-2a3b4c5d6e7f"
        assert recipient["repeatabilityFirstSent"].endswith(" GMT")
    finally:
        api.stop()


def test_the_repeatability_id_is_stable_per_message_and_distinct_between_messages():
    api = FakeProviderAPI().start()
    try:
        for _ in range(3):
            api.answer(202, _accepted())
        other = OutboundSMS(MESSAGE.from_number, MESSAGE.to_number, "Other", idempotency_key="not-a-uuid-key-7")
        with httpx.Client(timeout=5) as client:
            acs.PROVIDER.send(account_at(api.url), MESSAGE, client)
            acs.PROVIDER.send(account_at(api.url), MESSAGE, client)
            acs.PROVIDER.send(account_at(api.url), other, client)
        ids = [r.json()["smsRecipients"][0]["repeatabilityRequestId"] for r in api.received]
        assert ids[0] == ids[1] != ids[2]
        assert ids[2] == acs.repeatability_id("not-a-uuid-key-7")  # a GUID derived from the key
    finally:
        api.stop()


def test_secondary_connection_string_is_used_when_the_primary_key_is_refused():
    api = FakeProviderAPI().start()
    try:
        api.answer(401, {"error": {"code": "Denied", "message": "Denied by the resource provider."}})
        api.answer(202, _accepted("Outgoing_2"))
        secondary = f"endpoint=https://contoso-sms.communication.azure.com/;accesskey={SECOND_KEY}"
        with httpx.Client(timeout=5) as client:
            result = acs.PROVIDER.send(account_at(api.url, secondary_connection_string=secondary), MESSAGE, client)
        assert result.provider_message_id == "Outgoing_2"
        first, second = api.received
        assert first.headers["authorization"] == _expected_authorization(first, ACCESS_KEY)
        assert second.headers["authorization"] == _expected_authorization(second, SECOND_KEY)
        assert (
            first.json()["smsRecipients"][0]["repeatabilityRequestId"]
            == second.json()["smsRecipients"][0]["repeatabilityRequestId"]
        )
    finally:
        api.stop()


def test_sign_request_matches_a_hand_computed_vector():
    when = dt.datetime(2021, 3, 7, 12, 0, tzinfo=dt.UTC)
    body = b'{"from":"+1"}'
    headers = acs.sign_request(
        "POST", "https://contoso.communication.azure.com/sms?api-version=2021-03-07", body, ACCESS_KEY, when
    )
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["x-ms-date"] == "Sun, 07 Mar 2021 12:00:00 GMT"
    assert headers["x-ms-content-sha256"] == content_hash
    string_to_sign = (
        f"POST\n/sms?api-version=2021-03-07\nSun, 07 Mar 2021 12:00:00 GMT;"
        f"contoso.communication.azure.com;{content_hash}"
    )
    signature = base64.b64encode(
        hmac.new(base64.b64decode(ACCESS_KEY), string_to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    assert headers["Authorization"].endswith(f"&Signature={signature}")


def test_slow_answer_means_the_outcome_is_unknown():
    api = FakeProviderAPI().start()
    try:
        api.answer(202, _accepted(), hang=True)
        with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as client:
            with pytest.raises(OutcomeUnknownError) as caught:
                acs.PROVIDER.send(account_at(api.url), MESSAGE, client)
        assert caught.value.reason == "OutcomeUnknown"
        assert len(api.received) == 1  # it did reach the provider
    finally:
        api.stop()


def test_refused_connection_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with httpx.Client(timeout=2) as client:
        with pytest.raises(RetryableProviderError) as caught:
            acs.PROVIDER.send(account_at(f"http://127.0.0.1:{port}"), MESSAGE, client)
    assert caught.value.reason == "ProviderUnavailable"


def test_bad_connection_string_is_a_permanent_auth_failure():
    account = AccountConfig(kind="acs", credentials={"connection_string": "endpoint=https://x/"})
    with httpx.Client() as client, pytest.raises(PermanentProviderError) as caught:
        acs.PROVIDER.send(account, MESSAGE, client)
    assert caught.value.reason == "ProviderAuthFailed"


# ---------------------------------------------------------------- webhook protection


def _request(url: str) -> WebhookRequest:
    body = json.dumps(json.loads(load_cases("acs")[0][1]["request"]["body"])).encode()
    return WebhookRequest("POST", url, {"content-type": "application/json"}, body)


NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def test_without_a_configured_secret_the_url_key_alone_protects():
    acs.PROVIDER.verify(ACCOUNT, _request("https://td.example.com/webhooks/k/inbound"), NOW)


def test_configured_secret_query_parameter_is_required():
    account = AccountConfig(kind="acs", credentials={"connection_string": CONNECTION, "webhook_secret": "s3cr3t"})
    acs.PROVIDER.verify(account, _request("https://td.example.com/webhooks/k/inbound?secret=s3cr3t"), NOW)
    with pytest.raises(WebhookRejected) as missing:
        acs.PROVIDER.verify(account, _request("https://td.example.com/webhooks/k/inbound"), NOW)
    assert (missing.value.status, missing.value.reason) == (401, "missing webhook secret parameter 'secret'")
    with pytest.raises(WebhookRejected) as wrong:
        acs.PROVIDER.verify(account, _request("https://td.example.com/webhooks/k/inbound?secret=guess"), NOW)
    assert (wrong.value.status, wrong.value.reason) == (403, "webhook secret does not match")


def test_secret_parameter_name_is_configurable():
    account = AccountConfig(
        kind="acs",
        credentials={"connection_string": CONNECTION, "webhook_secret": "s3cr3t"},
        options={"webhook_secret_param": "code"},
    )
    query = urllib.parse.urlencode({"code": "s3cr3t"})
    acs.PROVIDER.verify(account, _request(f"https://td.example.com/webhooks/k/inbound?{query}"), NOW)


# ---------------------------------------------------------------- against the official SDK's models


@pytest.mark.parametrize("name", ["inbound", "delivery_reports"])
def test_fixture_events_parse_with_the_official_event_grid_model(name):
    eventgrid = pytest.importorskip("azure.eventgrid")
    cases = [c for stem_id, c in load_cases("acs") if stem_id.startswith(name)]
    assert cases
    for case in cases:
        events = json.loads(case["request"]["body"])
        ours = acs.PROVIDER.parse_status(
            ACCOUNT, WebhookRequest("POST", case["request"]["url"], {}, case["request"]["body"].encode())
        )
        ids = [item.provider_message_id for item in ours.inbound + ours.statuses]
        sdk_ids = []
        for event in events:
            parsed = eventgrid.EventGridEvent.from_dict(event)
            assert parsed.event_type.startswith("Microsoft.Communication.SMS")
            data = {k.lower(): v for k, v in parsed.data.items()}
            sdk_ids.append(data["messageid"])
        assert ids == sdk_ids
