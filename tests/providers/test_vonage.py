"""Vonage adapter: recorded webhooks, signatures against the official SDK, sending to a local fake API."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import jwt
import pytest
import vonage_jwt
from hypothesis import given, settings
from hypothesis import strategies as st
from vonage import Vonage
from vonage_http_client import Auth, HttpClientOptions
from vonage_messages import Sms as MessagesSms
from vonage_sms import SmsMessage

from tests.providers import _recorded as recorded
from tests.providers._fake_api import fake_api, fake_tls_api, http_client  # noqa: F401  (pytest fixtures)
from textdesk.domain import failures
from textdesk.domain import status as statuses
from textdesk.providers import vonage
from textdesk.providers.base import (
    AccountConfig,
    OutboundSMS,
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
    WebhookRejected,
)

SECRET = "signature-secret-0123456789abcdefghij"
API_KEY = "abcd1234"


def account(api: str = "sms", method: str = "md5hash", base_url: str = "", **options) -> AccountConfig:
    return AccountConfig(
        kind="vonage",
        credentials={"api_key": API_KEY, "api_secret": "api-secret", "signature_secret": SECRET},
        options={"api": api, "signature_method": method, "base_url": base_url, **options},
    )


def account_for(fixture_name: str, **options) -> AccountConfig:
    return account(api="messages" if fixture_name.startswith("messages_") else "sms", **options)


def outbound(body: str = "Hello from TextDesk", **fields) -> OutboundSMS:
    return OutboundSMS(
        from_number="+447700900001",
        to_number="+447700900000",
        body=body,
        idempotency_key="msg-42-attempt",
        client_reference="td-42",
        status_callback_url="https://crm.example.com/webhooks/vonage/status",
        **fields,
    )


# ---------------------------------------------------------------- recorded webhooks


@pytest.mark.parametrize("name", recorded.webhook_fixtures("vonage"))
def test_recorded_webhook_parses(name):
    fixture = recorded.load("vonage", name)
    adapter, acct = vonage.PROVIDER, account_for(name)
    request = recorded.as_request(fixture)
    if fixture["handler"] == "inbound":
        items = adapter.parse_inbound(acct, request).inbound
    else:
        items = adapter.parse_status(acct, request).statuses
    assert len(items) == 1
    recorded.check_expected(items[0], fixture["expect"])


@pytest.mark.parametrize("code", sorted(vonage.ERROR_MAP))
def test_every_dlr_error_code_maps_to_its_neutral_reason(code):
    fixture = recorded.load("vonage", "dlr_failed")
    body = fixture["body"].replace("err-code=9", f"err-code={code}")
    report = vonage.PROVIDER.parse_status(account(), recorded.as_request(fixture, body=body.encode())).statuses[0]
    meaning = vonage.ERROR_MAP[code]
    assert (report.error_code, report.failure_reason, report.permanent, report.opt_out) == (
        code,
        meaning.reason,
        meaning.permanent,
        meaning.opt_out,
    )


def test_err_code_9_is_an_opt_out_and_an_unknown_code_is_a_failure_of_unknown_reason():
    assert vonage.ERROR_MAP["9"].opt_out and vonage.ERROR_MAP["9"].reason == failures.RECIPIENT_OPTED_OUT
    fixture = recorded.load("vonage", "dlr_failed")
    body = fixture["body"].replace("err-code=9", "err-code=77")
    report = vonage.PROVIDER.parse_status(account(), recorded.as_request(fixture, body=body.encode())).statuses[0]
    assert (report.status, report.failure_reason, report.opt_out) == (statuses.UNDELIVERED, failures.UNKNOWN, False)


@pytest.mark.parametrize("code", sorted(vonage.MESSAGES_ERROR_MAP))
def test_every_messages_api_error_code_maps(code):
    fixture = recorded.load("vonage", "messages_status_rejected")
    data = json.loads(fixture["body"])
    data["error"].update(title=code, type=f"https://developer.vonage.com/api-errors/messages#{code}")
    report = vonage.PROVIDER.parse_status(
        account("messages"), recorded.as_request(fixture, body=json.dumps(data).encode())
    ).statuses[0]
    assert (report.error_code, report.failure_reason) == (code, vonage.MESSAGES_ERROR_MAP[code].reason)


def test_concatenated_parts_carry_reference_total_and_number():
    parts = [
        vonage.PROVIDER.parse_inbound(account(), recorded.as_request(recorded.load("vonage", n))).inbound[0]
        for n in ("inbound_concat_part1", "inbound_concat_part2")
    ]
    assert {p.concat.reference for p in parts} == {"108"}
    assert [p.concat.number for p in parts] == [1, 2]
    assert all(p.concat.total == 2 for p in parts)


@pytest.mark.parametrize(
    "body, reason",
    [
        ("to=447700900000&messageId=1&text=hi", "missing field(s): msisdn"),
        (
            "msisdn=1&to=2&messageId=3&text=x&concat=true&concat-ref=9&concat-total=2&concat-part=3",
            "inconsistent concat-ref / concat-total / concat-part",
        ),
    ],
)
def test_malformed_inbound_is_a_400_with_the_reason(body, reason):
    fixture = recorded.load("vonage", "inbound_post_form")
    with pytest.raises(WebhookRejected) as caught:
        vonage.PROVIDER.parse_inbound(account(), recorded.as_request(fixture, body=body.encode()))
    assert (caught.value.status, caught.value.reason) == (400, reason)


def test_invalid_json_status_is_a_400():
    fixture = recorded.load("vonage", "messages_status_delivered")
    with pytest.raises(WebhookRejected) as caught:
        vonage.PROVIDER.parse_status(account("messages"), recorded.as_request(fixture, body=b"{not json"))
    assert caught.value.status == 400


# ---------------------------------------------------------------- meta: fixtures used, statuses mapped

# Vonage's documented enums: SMS API delivery receipts, Messages API status webhooks.
DOCUMENTED_DLR_STATUSES = ["accepted", "buffered", "delivered", "expired", "failed", "rejected", "unknown", "deleted"]
DOCUMENTED_MESSAGES_STATUSES = ["submitted", "delivered", "rejected", "undeliverable", "read"]


def test_every_documented_status_is_mapped_and_has_a_recorded_fixture():
    names = set(recorded.names("vonage"))
    assert set(DOCUMENTED_DLR_STATUSES) == set(vonage.STATUS_MAP)
    assert set(DOCUMENTED_MESSAGES_STATUSES) == set(vonage.MESSAGES_STATUS_MAP)
    assert {f"dlr_{s}" for s in DOCUMENTED_DLR_STATUSES} <= names
    assert {f"messages_status_{s}" for s in DOCUMENTED_MESSAGES_STATUSES} <= names
    neutral = set(statuses.OUTBOUND_STATES) | {None}
    assert set(vonage.STATUS_MAP.values()) <= neutral
    assert set(vonage.MESSAGES_STATUS_MAP.values()) <= neutral


def test_every_fixture_is_used():
    source = Path(__file__).read_text(encoding="utf-8")
    for name in recorded.webhook_fixtures("vonage"):  # all run by test_recorded_webhook_parses
        assert recorded.load("vonage", name)["expect"], name
    unused = [n for n in recorded.response_fixtures("vonage") if f'"{n}"' not in source]
    assert unused == []


# ---------------------------------------------------------------- SMS API signatures


def form_request(params: dict, method: str = "POST"):
    fixture = recorded.load("vonage", "inbound_post_form")
    if method == "GET":
        return recorded.as_request(
            {**fixture, "method": "GET", "headers": {}, "body": ""}, url=fixture["url"] + "?" + urlencode(params)
        )
    return recorded.as_request(fixture, body=urlencode(params).encode())


def inbound_params() -> dict:
    return dict(parse_qsl(recorded.load("vonage", "inbound_post_form")["body"]))


def md5hash_signature(params: dict, secret: str) -> str:
    """The legacy md5hash method, computed independently of our module."""
    base = "".join(f"&{k}={str(v).replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()))
    return hashlib.md5((base + secret).encode()).hexdigest()


def test_documented_signature_vectors():
    params = {"param1": "value1", "param2": "value2", "timestamp": "1234567890"}
    assert vonage.sms_signature(params, "signature_secret", "md5") == "724c2bf6ca423c36e20631b11d1c5753"
    assert vonage.sms_signature(params, "signature_secret", "md5hash") == "d72f75ac8cda9bbce891c4fa62bee6cd"


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
@pytest.mark.parametrize("http_method", ["POST", "GET"])
def test_webhook_signed_by_the_sdk_is_accepted(method, http_method):
    params = inbound_params()
    params["text"] = "Fish & chips = dinner"  # & and = are replaced before hashing
    sdk = Auth(api_key=API_KEY, signature_secret=SECRET, signature_method=method)
    params["sig"] = sdk.sign_params(params).upper()  # the SDK adds timestamp=now to params
    vonage.PROVIDER.verify(account(method=method), form_request(params, http_method), recorded.now())


def test_md5hash_webhook_signed_independently_is_accepted():
    params = {**inbound_params(), "timestamp": str(int(time.time())), "nonce": "aa1c6f3a-5b8e"}
    params["sig"] = md5hash_signature(params, SECRET)
    vonage.PROVIDER.verify(account(method="md5hash"), form_request(params), recorded.now())


def test_signed_json_webhook_is_accepted():
    params = {**inbound_params(), "timestamp": str(int(time.time()))}
    params["sig"] = Auth(api_key=API_KEY, signature_secret=SECRET, signature_method="sha256").sign_params(dict(params))
    fixture = recorded.load("vonage", "inbound_json")
    request = recorded.as_request(fixture, body=json.dumps(params).encode())
    vonage.PROVIDER.verify(account(method="sha256"), request, recorded.now())


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_our_signature_is_accepted_by_the_sdk(method):
    signed = vonage.sign_sms_params(inbound_params(), SECRET, method)
    sdk = Auth(api_key=API_KEY, signature_secret=SECRET, signature_method=method)
    assert sdk.check_signature({k: str(v) for k, v in signed.items()})


def test_our_md5hash_signature_matches_the_independent_computation():
    signed = vonage.sign_sms_params(inbound_params(), SECRET, "md5hash")
    sig = signed.pop("sig")
    assert sig.lower() == md5hash_signature(signed, SECRET)


def rejected(acct, request, now=None) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        vonage.PROVIDER.verify(acct, request, now or recorded.now())
    return caught.value


def test_tampered_unsigned_stale_and_misconfigured_sms_webhooks_are_refused():
    signed = vonage.sign_sms_params(inbound_params(), SECRET, "sha256")
    tampered = {**signed, "text": "Send the invoice to attacker@example.com"}
    mismatch = rejected(account(method="sha256"), form_request(tampered))
    assert (mismatch.status, mismatch.reason) == (403, "signature does not match")

    unsigned = rejected(account(), form_request(inbound_params()))
    assert (unsigned.status, unsigned.reason) == (403, "unsigned webhook: no sig parameter")

    stale = vonage.sign_sms_params(inbound_params(), SECRET, "sha256", timestamp=int(time.time()) - 600)
    too_old = rejected(account(method="sha256"), form_request(stale))
    assert (too_old.status, too_old.reason) == (403, "signature timestamp outside the 300 s window")

    wrong_method = rejected(account(method="sha512"), form_request(signed))
    assert wrong_method.reason == "signature does not match"

    no_secret = AccountConfig(kind="vonage", credentials={"api_key": API_KEY, "api_secret": "x"})
    assert rejected(no_secret, form_request(signed)).status == 403


# ---------------------------------------------------------------- Messages API signatures (JWT)


def messages_request(body: bytes, authorization: str | None):
    fixture = recorded.load("vonage", "messages_status_delivered")
    headers = {"authorization": authorization} if authorization else {}
    return recorded.as_request(fixture, body=body, headers=headers)


def test_messages_webhook_signed_as_vonage_does_is_accepted():
    body = recorded.load("vonage", "messages_status_delivered")["body"].encode()
    claims = {
        "iat": int(time.time()),
        "jti": "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5",
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": API_KEY,
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    vonage.PROVIDER.verify(account("messages"), messages_request(body, f"Bearer {token}"), recorded.now())


def test_our_messages_signature_is_accepted_by_the_sdk():
    body = recorded.load("vonage", "messages_status_delivered")["body"].encode()
    token = vonage.sign_messages_webhook(body, SECRET, API_KEY).removeprefix("Bearer ")
    assert vonage_jwt.verify_signature(token, SECRET)
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["payload_hash"] == hashlib.sha256(body).hexdigest()


def test_tampered_unsigned_stale_and_foreign_messages_webhooks_are_refused():
    body = recorded.load("vonage", "messages_status_delivered")["body"].encode()
    header = vonage.sign_messages_webhook(body, SECRET, API_KEY)
    acct = account("messages")

    tampered = rejected(acct, messages_request(body.replace(b"delivered", b"rejected"), header))
    assert (tampered.status, tampered.reason) == (403, "payload_hash does not match the body")

    unsigned = rejected(acct, messages_request(body, None))
    assert (unsigned.status, unsigned.reason) == (401, "unsigned webhook: no Authorization bearer token")

    forged = rejected(acct, messages_request(body, vonage.sign_messages_webhook(body, "another-secret")))
    assert (forged.status, forged.reason) == (403, "JWT signature does not match")

    old = vonage.sign_messages_webhook(body, SECRET, issued_at=int(time.time()) - 3600)
    stale = rejected(acct, messages_request(body, old))
    assert stale.reason == "signature timestamp outside the 300 s window"

    other_key = rejected(acct, messages_request(body, vonage.sign_messages_webhook(body, SECRET, "someone-else")))
    assert other_key.reason == "JWT is for another API key"

    garbage = rejected(acct, messages_request(body, "Bearer not.a.jwt"))
    assert garbage.status == 403


# ---------------------------------------------------------------- sending (SMS API)


def test_send_posts_the_documented_form_and_reads_the_message_id(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("vonage", "send_ok"))
    result = vonage.PROVIDER.send(account(base_url=fake_api.url), outbound(), http_client)
    assert (result.provider_message_id, result.status, result.segments) == ("0C000000217B7F02", "queued", 1)
    [request] = fake_api.received
    form = dict(parse_qsl(request.body.decode()))
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form == {
        "api_key": API_KEY,
        "api_secret": "api-secret",
        "from": "447700900001",
        "to": "447700900000",
        "text": "Hello from TextDesk",
        "type": "text",
        "client-ref": "td-42",
        "callback": "https://crm.example.com/webhooks/vonage/status",
        "status-report-req": "True",
    }


def test_send_declares_unicode_for_text_outside_gsm7(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("vonage", "send_ok"))
    vonage.PROVIDER.send(account(base_url=fake_api.url), outbound("Olá, até amanhã 🙂"), http_client)
    assert b"type=unicode" in fake_api.received[0].body


def test_two_part_send_counts_segments(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("vonage", "send_ok_two_parts"))
    result = vonage.PROVIDER.send(account(base_url=fake_api.url), outbound("x" * 200), http_client)
    assert (result.provider_message_id, result.segments) == ("0C000000217B7F02", 2)


@pytest.mark.parametrize(
    "name, error_class, reason",
    [
        ("send_throttled", RetryableProviderError, failures.RATE_LIMITED),
        ("send_invalid_credentials", PermanentProviderError, failures.PROVIDER_AUTH_FAILED),
        ("send_invalid_params", PermanentProviderError, failures.INVALID_SENDING_PARAMETERS),
        ("send_partial_failure", PermanentProviderError, failures.RATE_LIMITED),  # part sent: never retried
    ],
)
def test_recorded_send_errors(fake_api, http_client, name, error_class, reason):
    fake_api.answer_recorded(recorded.load("vonage", name))
    with pytest.raises(error_class) as caught:
        vonage.PROVIDER.send(account(base_url=fake_api.url), outbound(), http_client)
    assert caught.value.reason == reason


@pytest.mark.parametrize("code", sorted(vonage.SUBMIT_ERROR_MAP, key=int))
def test_every_submit_status_code_maps(fake_api, http_client, code):
    fake_api.answer(200, {"message-count": "1", "messages": [{"status": code, "error-text": "refused"}]})
    meaning = vonage.SUBMIT_ERROR_MAP[code]
    with pytest.raises(PermanentProviderError if meaning.permanent else RetryableProviderError) as caught:
        vonage.PROVIDER.send(account(base_url=fake_api.url), outbound(), http_client)
    assert (caught.value.reason, caught.value.code) == (meaning.reason, code)


def test_http_429_and_5xx_are_retryable(fake_api, http_client):
    fake_api.answer(429, "slow down", {"retry-after": "7"})
    fake_api.answer(500, "oops")
    acct = account(base_url=fake_api.url)
    with pytest.raises(RetryableProviderError) as limited:
        vonage.PROVIDER.send(acct, outbound(), http_client)
    assert (limited.value.reason, limited.value.retry_after) == (failures.RATE_LIMITED, 7.0)
    with pytest.raises(RetryableProviderError) as broken:
        vonage.PROVIDER.send(acct, outbound(), http_client)
    assert broken.value.reason == failures.PROVIDER_UNAVAILABLE


def test_slow_answer_leaves_the_outcome_unknown(fake_api, http_client):
    fake_api.answer(200, {}, hang=True)
    with pytest.raises(OutcomeUnknownError) as caught:
        vonage.PROVIDER.send(account(base_url=fake_api.url, timeout=0.3), outbound(), http_client)
    assert caught.value.reason == failures.OUTCOME_UNKNOWN


def test_refused_connection_is_retryable(http_client):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryableProviderError) as caught:
        vonage.PROVIDER.send(account(base_url=f"http://127.0.0.1:{port}"), outbound(), http_client)
    assert caught.value.reason == failures.PROVIDER_UNAVAILABLE


def test_unreadable_200_leaves_the_outcome_unknown(fake_api, http_client):
    fake_api.answer(200, "<html>proxy page</html>", {"content-type": "text/html"})
    with pytest.raises(OutcomeUnknownError):
        vonage.PROVIDER.send(account(base_url=fake_api.url), outbound(), http_client)


# ---------------------------------------------------------------- sending (Messages API)


def test_messages_api_send_posts_json_with_basic_auth(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("vonage", "messages_send_ok"))
    result = vonage.PROVIDER.send(account("messages", base_url=fake_api.url), outbound(), http_client)
    assert (result.provider_message_id, result.status) == ("aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab", "queued")
    [request] = fake_api.received
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["authorization"] == Auth(api_key=API_KEY, api_secret="api-secret").create_basic_auth_string()
    assert request.json() == {
        "message_type": "text",
        "channel": "sms",
        "to": "447700900000",
        "from": "447700900001",
        "text": "Hello from TextDesk",
        "client_ref": "td-42",
        "webhook_url": "https://crm.example.com/webhooks/vonage/status",
    }


@pytest.mark.parametrize(
    "name, error_class, reason",
    [
        ("messages_send_invalid_params", PermanentProviderError, failures.INVALID_SENDING_PARAMETERS),
        ("messages_send_unauthorized", PermanentProviderError, failures.PROVIDER_AUTH_FAILED),
    ],
)
def test_recorded_messages_api_send_errors(fake_api, http_client, name, error_class, reason):
    fake_api.answer_recorded(recorded.load("vonage", name))
    with pytest.raises(error_class) as caught:
        vonage.PROVIDER.send(account("messages", base_url=fake_api.url), outbound(), http_client)
    assert caught.value.reason == reason


def test_messages_api_throttled_code_is_retryable(fake_api, http_client):
    fake_api.answer(
        429, {"type": "https://developer.vonage.com/api-errors/messages#1000", "title": "1000", "detail": "Throttled"}
    )
    with pytest.raises(RetryableProviderError) as caught:
        vonage.PROVIDER.send(account("messages", base_url=fake_api.url), outbound(), http_client)
    assert caught.value.reason == failures.RATE_LIMITED


def test_vonage_keeps_lookup_and_idempotency_off():
    assert not vonage.PROVIDER.supports_idempotency and not vonage.PROVIDER.supports_lookup
    assert vonage.PROVIDER.lookup(account(), outbound(), None) is None


def test_a_misconfigured_account_fails_before_anything_is_sent(fake_api, http_client):
    with pytest.raises(PermanentProviderError) as caught:
        vonage.PROVIDER.send(account(api="smpp", base_url=fake_api.url), outbound(), http_client)
    assert caught.value.reason == failures.PROVIDER_AUTH_FAILED
    no_secret = AccountConfig(kind="vonage", credentials={"api_key": API_KEY}, options={"base_url": fake_api.url})
    with pytest.raises(PermanentProviderError) as missing:
        vonage.PROVIDER.send(no_secret, outbound(), http_client)
    assert missing.value.text == "the account has no api_secret"
    assert fake_api.received == []
    signed = vonage.sign_sms_params(inbound_params(), SECRET, "sha256")
    assert rejected(account(api="smpp"), form_request(signed)).status == 403


def test_a_query_of_our_own_on_the_callback_url_is_not_part_of_what_vonage_signs():
    signed = vonage.sign_sms_params(inbound_params(), SECRET, "sha256")
    fixture = recorded.load("vonage", "inbound_post_form")
    request = recorded.as_request(fixture, body=urlencode(signed).encode(), url=fixture["url"] + "?route=eu-1")
    vonage.PROVIDER.verify(account(method="sha256"), request, recorded.now())
    assert vonage.PROVIDER.parse_inbound(account(), request).inbound[0].body == "Hello world"


# ---------------------------------------------------------------- property: our signature equals the SDK's


@settings(max_examples=150, deadline=None)
@given(
    params=st.dictionaries(
        st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=10).filter(
            lambda k: k not in ("sig", "timestamp")
        ),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
        max_size=8,
    ),
    method=st.sampled_from(["md5", "sha1", "sha256", "sha512"]),
)
def test_our_sms_signature_equals_the_sdks_for_any_parameters(params, method):
    signed = vonage.sign_sms_params(params, SECRET, method, timestamp=1700000000)
    assert Auth(api_key=API_KEY, signature_secret=SECRET, signature_method=method).check_signature(dict(signed))


# ---------------------------------------------------------------- our requests match the SDK's (over HTTPS)


def tls_account(api: str, fake) -> AccountConfig:
    return account(api, base_url=fake.url)


def test_our_sms_api_request_carries_the_same_form_as_the_sdks(fake_tls_api):
    fake_tls_api.answer_recorded(recorded.load("vonage", "send_ok"))
    fake_tls_api.answer_recorded(recorded.load("vonage", "send_ok"))
    with fake_tls_api.trusting_client() as client:
        vonage.PROVIDER.send(tls_account("sms", fake_tls_api), outbound(), client)
    sdk = Vonage(Auth(api_key=API_KEY, api_secret="api-secret"), HttpClientOptions(rest_host=fake_tls_api.host))
    sdk.sms.send(
        SmsMessage(
            to="447700900000",
            from_="447700900001",
            text="Hello from TextDesk",
            type="text",
            client_ref="td-42",
            callback="https://crm.example.com/webhooks/vonage/status",
            status_report_req=True,
        )
    )
    ours, theirs = fake_tls_api.received
    assert (ours.method, ours.path) == (theirs.method, theirs.path) == ("POST", "/sms/json")
    our_form, sdk_form = dict(parse_qsl(ours.body.decode())), dict(parse_qsl(theirs.body.decode()))
    # The SDK sends the credentials as a Basic header; the API reference (which we follow) in the body.
    assert theirs.headers["authorization"] == Auth(api_key=API_KEY, api_secret="api-secret").create_basic_auth_string()
    assert (our_form.pop("api_key"), our_form.pop("api_secret")) == (API_KEY, "api-secret")
    assert our_form == sdk_form


def test_our_messages_api_request_is_the_sdks(fake_tls_api):
    fake_tls_api.answer_recorded(recorded.load("vonage", "messages_send_ok"))
    fake_tls_api.answer_recorded(recorded.load("vonage", "messages_send_ok"))
    with fake_tls_api.trusting_client() as client:
        vonage.PROVIDER.send(tls_account("messages", fake_tls_api), outbound(), client)
    sdk = Vonage(Auth(api_key=API_KEY, api_secret="api-secret"), HttpClientOptions(api_host=fake_tls_api.host))
    sdk.messages.send(
        MessagesSms(
            to="447700900000",
            from_="447700900001",
            text="Hello from TextDesk",
            client_ref="td-42",
            webhook_url="https://crm.example.com/webhooks/vonage/status",
        )
    )
    ours, theirs = fake_tls_api.received
    assert (ours.method, ours.path) == (theirs.method, theirs.path) == ("POST", "/v1/messages")
    assert ours.headers["authorization"] == theirs.headers["authorization"]
    assert ours.json() == theirs.json()
