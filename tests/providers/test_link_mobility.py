"""LINK Mobility adapter: recorded gate posts and send answers, the request it sends, optional Basic credentials."""

from __future__ import annotations

import base64
import datetime as dt

import httpx
import pytest

from tests.providers._fake_api import FakeProviderAPI
from tests.providers._fake_api_rest import covered_codes, fixture_files, load_cases, run_send_case, run_webhook_case
from textdesk.providers import link_mobility
from textdesk.providers.base import AccountConfig, OutboundSMS, OutcomeUnknownError, WebhookRejected, WebhookRequest
from textdesk.providers.registry import get_provider

CREDENTIALS = {
    "platform_id": "COMMON_API",
    "platform_partner_id": "3245",
    "gate_id": "b3c5d8e1-gate",
    "username": "acme-sms",
    "password": "link-secret",
}
ACCOUNT = AccountConfig(kind="link_mobility", credentials=CREDENTIALS)
MESSAGE = OutboundSMS(
    from_number="+4759446000",
    to_number="+4791234567",
    body="Hei Kari, tilbudet er klart.",
    idempotency_key="0f9c7a52-3b7e-4a8e-9d59-1c2b3a4d5e6f",
    client_reference="4711",
)
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
CASES = load_cases("link_mobility")


def account_at(url: str, **credentials) -> AccountConfig:
    return AccountConfig(kind="link_mobility", credentials={**CREDENTIALS, **credentials}, options={"base_url": url})


def test_the_registry_knows_it():
    assert get_provider("link_mobility") is link_mobility.PROVIDER


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_recorded_fixture(case):
    if "request" in case:
        run_webhook_case(link_mobility.PROVIDER, ACCOUNT, case)
    else:
        run_send_case(link_mobility.PROVIDER, account_at, case, MESSAGE)


def test_every_fixture_is_used_and_every_documented_code_is_exercised():
    assert {p.stem for p in fixture_files("link_mobility")} == {"delivery_reports", "inbound", "send_responses"}
    statuses, codes = covered_codes("link_mobility")
    assert set(link_mobility.STATUS_MAP) <= statuses, set(link_mobility.STATUS_MAP) - statuses
    assert set(link_mobility.ERROR_MAP) <= statuses | codes, set(link_mobility.ERROR_MAP) - statuses - codes


def test_send_speaks_the_common_platform_request():
    api = FakeProviderAPI().start()
    try:
        api.answer(200, {"messageId": "8mKUQY2Qx1vG0001", "resultCode": 1005, "description": "Queued", "smsCount": 1})
        reply = OutboundSMS(**{**MESSAGE.__dict__, "in_reply_to": "Mo3vKx9eQmOYd1nAb2"})
        with httpx.Client(timeout=5) as client:
            result = link_mobility.PROVIDER.send(account_at(api.url), reply, client)
        assert (result.provider_message_id, result.status, result.segments) == ("8mKUQY2Qx1vG0001", "queued", 1)
        [received] = api.received
        assert (received.method, received.path) == ("POST", "/sms/send")
        assert received.headers["authorization"] == "Basic " + base64.b64encode(b"acme-sms:link-secret").decode()
        assert received.json() == {
            "source": "+4759446000",
            "sourceTON": "MSISDN",
            "destination": "+4791234567",
            "destinationTON": "MSISDN",
            "userData": "Hei Kari, tilbudet er klart.",
            "platformId": "COMMON_API",
            "platformPartnerId": "3245",
            "refId": "4711",
            "useDeliveryReport": True,
            "deliveryReportGates": ["b3c5d8e1-gate"],
            "moReferenceId": "Mo3vKx9eQmOYd1nAb2",
        }
    finally:
        api.stop()


def test_sender_types_of_number():
    assert [link_mobility.source_ton(n) for n in ("+4759446000", "1960", "ACME")] == [
        "MSISDN",
        "SHORTCODE",
        "ALPHANUMERIC",
    ]


def test_a_slow_answer_leaves_the_outcome_unknown():
    api = FakeProviderAPI().start()
    try:
        api.answer(200, {}, hang=True)
        with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as client, pytest.raises(OutcomeUnknownError):
            link_mobility.PROVIDER.send(account_at(api.url), MESSAGE, client)
    finally:
        api.stop()


def _gate_post(headers: dict) -> WebhookRequest:
    case = CASES[0][1]
    return WebhookRequest("POST", case["request"]["url"], headers, case["request"]["body"].encode())


def test_optional_basic_credentials_on_the_gate():
    account = AccountConfig(
        kind="link_mobility", credentials={**CREDENTIALS, "webhook_username": "gate", "webhook_password": "g-pass"}
    )
    good = "Basic " + base64.b64encode(b"gate:g-pass").decode()
    link_mobility.PROVIDER.verify(account, _gate_post({"authorization": good}), NOW)
    for headers, status in [
        ({}, 401),
        ({"authorization": "Basic !!"}, 401),
        ({"authorization": "Basic Z2F0ZTp4"}, 403),
    ]:
        with pytest.raises(WebhookRejected) as caught:
            link_mobility.PROVIDER.verify(account, _gate_post(headers), NOW)
        assert caught.value.status == status
    link_mobility.PROVIDER.verify(ACCOUNT, _gate_post({}), NOW)  # none configured: the URL key protects
