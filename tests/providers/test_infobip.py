"""Infobip adapter: recorded delivery reports and inbound messages, send answers, lookup, optional Basic auth."""

from __future__ import annotations

import base64
import datetime as dt
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
from textdesk.providers import infobip
from textdesk.providers.base import (
    AccountConfig,
    OutboundSMS,
    OutcomeUnknownError,
    WebhookRejected,
    WebhookRequest,
)

API_KEY = "003026bbc133714df1834b8638bb496e-8f4b3d9a-e931-478d-a994-28a725159ab9"
ACCOUNT = AccountConfig(
    kind="infobip",
    credentials={"base_url": "https://xxxxx.api.infobip.com", "api_key": API_KEY},
    status_url="https://td.example.com/webhooks/status-key/status",
)
MESSAGE = OutboundSMS(
    from_number="+41793026700",
    to_number="+41793026727",
    body="Hi Ana, the quote is ready.",
    idempotency_key="KEY-1",
    client_reference="msg-42",
)
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)

# The SMS "general status codes" of Infobip's documentation (name → group).
DOCUMENTED_STATUSES = {
    "PENDING_ACCEPTED",
    "PENDING_ENROUTE",
    "PENDING_WAITING_DELIVERY",
    "UNDELIVERABLE_REJECTED_OPERATOR",
    "UNDELIVERABLE_NOT_DELIVERED",
    "UNDELIVERABLE_NOT_SENT",
    "DELIVERED_TO_OPERATOR",
    "DELIVERED_TO_HANDSET",
    "EXPIRED_EXPIRED",
    "EXPIRED_DLR_UNKNOWN",
    "SIGNALS_BLOCKED",
    "REJECTED_NETWORK",
    "REJECTED_PREFIX_MISSING",
    "REJECTED_DND",
    "REJECTED_SOURCE",
    "REJECTED_NOT_ENOUGH_CREDITS",
    "REJECTED_SENDER",
    "REJECTED_DESTINATION_BLOCKLISTED",
    "REJECTED_PREPAID_PACKAGE_EXPIRED",
    "REJECTED_DESTINATION_NOT_REGISTERED",
    "REJECTED_ROUTE_NOT_AVAILABLE",
    "REJECTED_FLOODING_FILTER",
    "REJECTED_SYSTEM_ERROR",
    "REJECTED_DUPLICATE_MESSAGE_ID",
    "REJECTED_INVALID_UDH",
    "REJECTED_MESSAGE_TOO_LONG",
    "MISSING_TO",
    "REJECTED_DESTINATION",
    "UNDELIVERABLE_REJECTED_PLATFORM",
}
DOCUMENTED_GROUPS = {"PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED"}


def account_at(url: str) -> AccountConfig:
    return AccountConfig(
        kind="infobip", credentials=dict(ACCOUNT.credentials), options={"base_url": url}, status_url=ACCOUNT.status_url
    )


@pytest.mark.parametrize("case", [c for _, c in load_cases("infobip")], ids=[i for i, _ in load_cases("infobip")])
def test_recorded_fixture(case):
    if "request" in case:
        run_webhook_case(infobip.PROVIDER, ACCOUNT, case)
    else:
        run_send_case(infobip.PROVIDER, account_at, case, MESSAGE)


def test_every_fixture_is_used_and_every_documented_value_is_mapped():
    assert {p.stem for p in fixture_files("infobip")} == {
        "delivery_reports_statuses",
        "delivery_reports_errors",
        "inbound",
        "send_responses",
    }
    statuses, codes = covered_codes("infobip")
    assert DOCUMENTED_STATUSES | DOCUMENTED_GROUPS <= set(infobip.STATUS_MAP)
    assert DOCUMENTED_STATUSES <= statuses, DOCUMENTED_STATUSES - statuses
    assert set(infobip.ERROR_MAP) <= codes, set(infobip.ERROR_MAP) - codes


def test_key_mapping_decisions():
    # A positive-sounding group is not a handset delivery.
    assert infobip.neutral_status({"groupName": "DELIVERED", "name": "DELIVERED_TO_OPERATOR"})[1] == "sent"
    assert infobip.neutral_status({"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"})[1] == "delivered"
    # An unknown name falls back to its group; an unknown group carries no news.
    assert infobip.neutral_status({"groupName": "REJECTED", "name": "REJECTED_SOMETHING_NEW"})[1] == "failed"
    assert infobip.neutral_status({"groupName": "MYSTERY", "name": "MYSTERY_STATE"})[1] is None


def test_send_speaks_the_documented_request():
    api = FakeProviderAPI().start()
    try:
        api.answer(
            200,
            {
                "bulkId": "b1",
                "messages": [
                    {
                        "to": "41793026727",
                        "messageId": "KEY-1",
                        "status": {
                            "groupId": 1,
                            "groupName": "PENDING",
                            "id": 26,
                            "name": "PENDING_ACCEPTED",
                            "description": "Message sent to next instance",
                        },
                    }
                ],
            },
        )
        with httpx.Client(timeout=5) as client:
            result = infobip.PROVIDER.send(account_at(api.url), MESSAGE, client)
        assert (result.provider_message_id, result.status) == ("KEY-1", "queued")
        [received] = api.received
        assert (received.method, received.path) == ("POST", "/sms/2/text/advanced")
        assert received.headers["authorization"] == f"App {API_KEY}"
        assert received.headers["content-type"] == "application/json"
        [sms] = received.json()["messages"]
        assert sms == {
            "from": "41793026700",
            "destinations": [{"to": "41793026727", "messageId": "KEY-1"}],
            "text": "Hi Ana, the quote is ready.",
            "notifyContentType": "application/json",
            "notifyUrl": "https://td.example.com/webhooks/status-key/status",
            "callbackData": "msg-42",
        }
    finally:
        api.stop()


def test_lookup_reads_the_message_logs_by_our_message_id():
    api = FakeProviderAPI().start()
    try:
        api.answer(
            200,
            {
                "results": [
                    {
                        "messageId": "KEY-1",
                        "to": "41793026727",
                        "status": {"groupId": 3, "groupName": "DELIVERED", "id": 2, "name": "DELIVERED_TO_OPERATOR"},
                    }
                ]
            },
        )
        api.answer(200, {"results": []})
        with httpx.Client(timeout=5) as client:
            found = infobip.PROVIDER.lookup(account_at(api.url), MESSAGE, client)
            missing = infobip.PROVIDER.lookup(account_at(api.url), MESSAGE, client)
        assert (found.provider_message_id, found.status, found.provider_status) == (
            "KEY-1",
            "sent",
            "DELIVERED_TO_OPERATOR",
        )
        assert missing is None
        assert api.received[0].method == "GET"
        assert api.received[0].path == "/sms/1/logs?" + urllib.parse.urlencode({"messageId": "KEY-1"})
        assert api.received[0].headers["authorization"] == f"App {API_KEY}"
    finally:
        api.stop()


def test_slow_answer_means_the_outcome_is_unknown():
    api = FakeProviderAPI().start()
    try:
        api.answer(200, {"messages": []}, hang=True)
        with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as client:
            with pytest.raises(OutcomeUnknownError):
                infobip.PROVIDER.send(account_at(api.url), MESSAGE, client)
    finally:
        api.stop()


def test_answer_that_is_not_json_means_the_outcome_is_unknown():
    api = FakeProviderAPI().start()
    try:
        api.answer(200, "<html>gateway</html>", {"content-type": "text/html"})
        with httpx.Client(timeout=5) as client, pytest.raises(OutcomeUnknownError):
            infobip.PROVIDER.send(account_at(api.url), MESSAGE, client)
    finally:
        api.stop()


# ---------------------------------------------------------------- webhook protection


def _dlr(headers: dict) -> WebhookRequest:
    case = load_cases("infobip")[0][1]
    return WebhookRequest("POST", case["request"]["url"], headers, case["request"]["body"].encode())


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_optional_basic_credentials_are_enforced_when_configured():
    account = AccountConfig(
        kind="infobip",
        credentials={**ACCOUNT.credentials, "webhook_username": "infobip", "webhook_password": "hook-pass"},
    )
    infobip.PROVIDER.verify(account, _dlr({"authorization": _basic("infobip", "hook-pass")}), NOW)
    for headers, status, reason in [
        ({}, 401, "missing Basic credentials"),
        ({"authorization": "Basic %%%"}, 401, "malformed Basic credentials"),
        ({"authorization": _basic("infobip", "guess")}, 403, "Basic credentials do not match"),
    ]:
        with pytest.raises(WebhookRejected) as caught:
            infobip.PROVIDER.verify(account, _dlr(headers), NOW)
        assert (caught.value.status, caught.value.reason) == (status, reason)


def test_without_credentials_the_url_key_alone_protects():
    infobip.PROVIDER.verify(ACCOUNT, _dlr({}), NOW)
