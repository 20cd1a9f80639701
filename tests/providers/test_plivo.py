"""Plivo adapter: recorded callbacks, V3/V2 signatures against the official SDK, sends to a local fake API."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import plivo
import plivo.rest.client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plivo.utils import validate_signature
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3, validate_v3_signature

from tests.providers import _recorded as recorded
from tests.providers._fake_api import fake_api, http_client  # noqa: F401  (pytest fixtures)
from textdesk.domain import failures
from textdesk.domain import status as statuses
from textdesk.providers import plivo as adapter_module
from textdesk.providers.base import (
    AccountConfig,
    OutboundSMS,
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
    WebhookRejected,
)

ADAPTER = adapter_module.PROVIDER
AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"
AUTH_TOKEN = "plivo-auth-token-0123456789"
NONCE = "05429567804466091622"


def account(base_url: str = "", **options) -> AccountConfig:
    return AccountConfig(
        kind="plivo",
        credentials={"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN},
        options={"base_url": base_url, **options},
    )


def outbound(body: str = "Hello from TextDesk") -> OutboundSMS:
    return OutboundSMS(
        from_number="+14155550100",
        to_number="+14155550111",
        body=body,
        idempotency_key="msg-42",
        status_callback_url="https://crm.example.com/webhooks/plivo/status",
    )


# ---------------------------------------------------------------- recorded callbacks


@pytest.mark.parametrize("name", recorded.webhook_fixtures("plivo"))
def test_recorded_callback_parses(name):
    fixture = recorded.load("plivo", name)
    request = recorded.as_request(fixture)
    if fixture["handler"] == "inbound":
        items = ADAPTER.parse_inbound(account(), request).inbound
    else:
        items = ADAPTER.parse_status(account(), request).statuses
    assert len(items) == 1
    recorded.check_expected(items[0], fixture["expect"])


@pytest.mark.parametrize("code", sorted(adapter_module.ERROR_MAP, key=int))
def test_every_error_code_maps_to_its_neutral_reason(code):
    fixture = recorded.load("plivo", "status_failed")
    body = fixture["body"].replace("ErrorCode=50", f"ErrorCode={code}")
    report = ADAPTER.parse_status(account(), recorded.as_request(fixture, body=body.encode())).statuses[0]
    meaning = adapter_module.ERROR_MAP[code]
    assert (report.error_code, report.failure_reason, report.permanent, report.opt_out) == (
        code,
        meaning.reason,
        meaning.permanent,
        meaning.opt_out,
    )


def test_message_intent_optout_flags_the_inbound_message():
    fixture = recorded.load("plivo", "inbound_optout")
    assert ADAPTER.parse_inbound(account(), recorded.as_request(fixture)).inbound[0].opt_signal == "opt_out"


@pytest.mark.parametrize(
    "body, status, reason",
    [
        ("From=1&To=2&Text=hi", 400, "missing field(s): MessageUUID"),
        ("From=1&To=2&Text=hi&MessageUUID=u&MessageIntent=maybe", 400, "unknown MessageIntent 'maybe'"),
    ],
)
def test_malformed_inbound_is_refused_with_the_reason(body, status, reason):
    fixture = recorded.load("plivo", "inbound_form")
    with pytest.raises(WebhookRejected) as caught:
        ADAPTER.parse_inbound(account(), recorded.as_request(fixture, body=body.encode()))
    assert (caught.value.status, caught.value.reason) == (status, reason)


def test_a_json_body_is_an_unsupported_media_type():
    fixture = recorded.load("plivo", "status_sent")
    with pytest.raises(WebhookRejected) as caught:
        ADAPTER.parse_status(
            account(), recorded.as_request(fixture, body=b"{}", headers={"content-type": "application/json"})
        )
    assert caught.value.status == 415


# ---------------------------------------------------------------- meta

DOCUMENTED_STATUSES = [
    "queued",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "read",
    "rejected",
]  # Plivo status callback docs


def test_every_documented_status_is_mapped_and_has_a_recorded_callback():
    assert set(adapter_module.STATUS_MAP) == set(DOCUMENTED_STATUSES) | {"received"}
    assert {f"status_{s}" for s in DOCUMENTED_STATUSES} <= set(recorded.names("plivo"))
    assert set(adapter_module.STATUS_MAP.values()) <= set(statuses.OUTBOUND_STATES) | {statuses.RECEIVED}
    assert set(adapter_module.INTENT_MAP) == {"optout", "optin", "help", ""}


def test_every_fixture_is_used():
    source = Path(__file__).read_text(encoding="utf-8")
    for name in recorded.webhook_fixtures("plivo"):
        assert recorded.load("plivo", name)["expect"], name
    assert [n for n in recorded.response_fixtures("plivo") if f'"{n}"' not in source] == []


# ---------------------------------------------------------------- signatures


def form_params(fixture: dict) -> dict[str, str]:
    return dict(parse_qsl(fixture["body"], keep_blank_values=True))


def sdk_v3_signature(method: str, url: str, params: dict, token: str = AUTH_TOKEN, nonce: str = NONCE) -> str:
    base = construct_get_url(url, dict(params)) if method == "GET" else construct_post_url(url, dict(params))
    return get_signature_v3(token.encode(), base.decode(), nonce.encode()).decode()


@pytest.mark.parametrize("url_suffix", ["", "?account=7&b=2"])
def test_post_signed_by_the_sdk_is_accepted(url_suffix):
    fixture = recorded.load("plivo", "status_delivered")
    url = fixture["url"] + url_suffix
    signature = sdk_v3_signature("POST", url, form_params(fixture))
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE}
    ADAPTER.verify(account(), recorded.as_request(fixture, headers=headers, url=url), recorded.now())


def test_get_signed_by_the_sdk_is_accepted():
    fixture = recorded.load("plivo", "inbound_get")
    signature = sdk_v3_signature("GET", fixture["url"], {})
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE}
    ADAPTER.verify(account(), recorded.as_request(fixture, headers=headers), recorded.now())


def test_any_of_several_comma_separated_signatures_may_match():
    fixture = recorded.load("plivo", "inbound_form")
    real = sdk_v3_signature("POST", fixture["url"], form_params(fixture))
    other = sdk_v3_signature("POST", fixture["url"], form_params(fixture), token="previous-token")
    headers = {"X-Plivo-Signature-V3": f"{other}, {real}", "X-Plivo-Signature-V3-Nonce": NONCE}
    ADAPTER.verify(account(), recorded.as_request(fixture, headers=headers), recorded.now())


@pytest.mark.parametrize("name", ["inbound_form", "status_undelivered"])
def test_our_signatures_are_accepted_by_the_sdk(name):
    fixture = recorded.load("plivo", name)
    url = fixture["url"] + "?tenant=acme"
    headers = adapter_module.sign_webhook(url, form_params(fixture), AUTH_TOKEN, NONCE)
    assert validate_v3_signature("POST", url, NONCE, AUTH_TOKEN, headers["X-Plivo-Signature-V3"], form_params(fixture))
    assert validate_signature(url, NONCE, headers["X-Plivo-Signature-V2"], AUTH_TOKEN)
    ADAPTER.verify(account(), recorded.as_request(fixture, headers=headers, url=url), recorded.now())


def test_our_get_signature_is_accepted_by_the_sdk():
    fixture = recorded.load("plivo", "inbound_get")
    headers = adapter_module.sign_webhook(fixture["url"], {}, AUTH_TOKEN, NONCE, method="GET")
    assert validate_v3_signature("GET", fixture["url"], NONCE, AUTH_TOKEN, headers["X-Plivo-Signature-V3"], {})


def rejected(acct, request) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        ADAPTER.verify(acct, request, recorded.now())
    return caught.value


def test_tampered_unsigned_and_v2_only_callbacks_are_refused():
    fixture = recorded.load("plivo", "status_delivered")
    headers = adapter_module.sign_webhook(fixture["url"], form_params(fixture), AUTH_TOKEN, NONCE)
    tampered_body = urlencode({**form_params(fixture), "Status": "undelivered", "ErrorCode": "200"}).encode()
    assert not validate_v3_signature(
        "POST",
        fixture["url"],
        NONCE,
        AUTH_TOKEN,
        headers["X-Plivo-Signature-V3"],
        dict(parse_qsl(tampered_body.decode(), keep_blank_values=True)),
    )
    tampered = rejected(account(), recorded.as_request(fixture, body=tampered_body, headers=headers))
    assert (tampered.status, tampered.reason) == (403, "V3 signature does not match")

    unsigned = rejected(account(), recorded.as_request(fixture))
    assert (unsigned.status, unsigned.reason) == (403, "unsigned webhook: no x-plivo-signature-v3 header")

    no_nonce = {"X-Plivo-Signature-V3": headers["X-Plivo-Signature-V3"]}
    assert rejected(account(), recorded.as_request(fixture, headers=no_nonce)).status == 403

    v2_only = {k: v for k, v in headers.items() if "V2" in k}
    assert rejected(account(), recorded.as_request(fixture, headers=v2_only)).reason == (
        "unsigned webhook: no x-plivo-signature-v3 header"
    )
    # An account that opts in to V2 accepts it (V2 covers the URL only, not the parameters).
    ADAPTER.verify(account(signature_version="v2"), recorded.as_request(fixture, headers=v2_only), recorded.now())
    moved = rejected(
        account(signature_version="v2"),
        recorded.as_request(fixture, headers=v2_only, url="https://evil.example.com/webhooks/plivo/status"),
    )
    assert moved.reason == "V2 signature does not match"

    other_token = AccountConfig(kind="plivo", credentials={"auth_id": AUTH_ID, "auth_token": "other"})
    assert rejected(other_token, recorded.as_request(fixture, headers=headers)).status == 403


# ---------------------------------------------------------------- sending


def test_send_posts_json_with_basic_auth_and_reads_the_uuid(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("plivo", "send_ok"))
    result = ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)
    assert (result.provider_message_id, result.status) == ("db3ce55a-7f1d-11e1-8ea7-1231380bc196", "queued")
    [request] = fake_api.received
    assert (request.method, request.path) == ("POST", f"/v1/Account/{AUTH_ID}/Message/")
    assert request.json() == {
        "src": "14155550100",
        "dst": "14155550111",
        "text": "Hello from TextDesk",
        "type": "sms",
        "url": "https://crm.example.com/webhooks/plivo/status",
        "method": "POST",
    }


def test_our_request_matches_what_the_sdk_sends(fake_api, http_client, monkeypatch):
    fake_api.answer_recorded(recorded.load("plivo", "send_ok"))
    fake_api.answer_recorded(recorded.load("plivo", "send_ok"))
    ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)
    # The SDK resets its base URI to this module constant on every request.
    monkeypatch.setattr(plivo.rest.client, "PLIVO_API_BASE_URI", fake_api.url + "/v1/Account")
    client = plivo.RestClient(AUTH_ID, AUTH_TOKEN)
    client.messages.create(
        src="14155550100",
        dst="14155550111",
        text="Hello from TextDesk",
        url="https://crm.example.com/webhooks/plivo/status",
    )
    ours, theirs = fake_api.received
    assert (ours.method, ours.path) == (theirs.method, theirs.path)
    assert ours.headers["authorization"] == theirs.headers["authorization"]
    sdk_body = theirs.json()
    assert {key: sdk_body[key] for key in ours.json()} == ours.json()


@pytest.mark.parametrize(
    "name, error_class, reason",
    [
        ("send_invalid_destination", PermanentProviderError, failures.INVALID_SENDING_PARAMETERS),
        ("send_unauthorized", PermanentProviderError, failures.PROVIDER_AUTH_FAILED),
        ("send_rate_limited", RetryableProviderError, failures.RATE_LIMITED),
    ],
)
def test_recorded_send_errors(fake_api, http_client, name, error_class, reason):
    fake_api.answer_recorded(recorded.load("plivo", name))
    with pytest.raises(error_class) as caught:
        ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)
    assert caught.value.reason == reason
    assert caught.value.text == recorded.load("plivo", name)["body"]["error"]


def test_server_errors_are_retryable_and_a_slow_answer_is_unknown(fake_api, http_client):
    fake_api.answer(502, "bad gateway", {"content-type": "text/plain"})
    fake_api.answer(202, {}, hang=True)
    acct = account(base_url=fake_api.url, timeout=0.3)
    with pytest.raises(RetryableProviderError):
        ADAPTER.send(acct, outbound(), http_client)
    with pytest.raises(OutcomeUnknownError):
        ADAPTER.send(acct, outbound(), http_client)


def test_plivo_has_neither_idempotency_nor_lookup():
    assert not ADAPTER.supports_idempotency and not ADAPTER.supports_lookup
    assert ADAPTER.lookup(account(), outbound(), None) is None


def test_without_an_account_timeout_the_callers_client_timeout_applies(fake_api):
    import httpx

    fake_api.answer(202, {}, hang=True)
    with httpx.Client(timeout=0.3) as short_client, pytest.raises(OutcomeUnknownError):
        ADAPTER.send(account(base_url=fake_api.url), outbound(), short_client)


# ---------------------------------------------------------------- property: our V3 equals the SDK's


param_names = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=12)
param_values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    params=st.dictionaries(param_names, param_values, max_size=8),
    # ASCII only in our own query: the SDK cannot parse percent-encoded UTF-8 there.
    query=st.dictionaries(st.text("abcxyzXYZ019", min_size=1, max_size=6), st.text("abc019-_", max_size=8), max_size=3),
    method=st.sampled_from(["POST", "GET"]),
)
def test_our_v3_signature_equals_the_sdks_for_any_parameters(params, query, method):
    url = "https://crm.example.com/webhooks/plivo/status" + ("?" + urlencode(query) if query else "")
    if method == "GET":
        params = {}
    ours = adapter_module.signature_v3(url, {k: [v] for k, v in params.items()}, NONCE, AUTH_TOKEN, method)
    assert validate_v3_signature(method, url, NONCE, AUTH_TOKEN, ours, dict(params))
