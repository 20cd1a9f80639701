"""Telnyx adapter: recorded events, Ed25519 signatures against the official SDK, sends to a local fake API."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
import telnyx
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

from tests.providers import _recorded as recorded
from tests.providers._fake_api import fake_api, http_client  # noqa: F401  (pytest fixtures)
from textdesk.domain import failures
from textdesk.domain import status as statuses
from textdesk.providers import telnyx as adapter_module
from textdesk.providers.base import (
    AccountConfig,
    OutboundSMS,
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
    WebhookRejected,
)

ADAPTER = adapter_module.PROVIDER
API_KEY = "KEY0123456789ABCDEF_test"


@pytest.fixture(scope="module")
def seed() -> bytes:
    return bytes(SigningKey.generate()._seed)


def account(public_key: str = "", base_url: str = "", **options) -> AccountConfig:
    return AccountConfig(
        kind="telnyx",
        credentials={"api_key": API_KEY, "public_key": public_key},
        options={"base_url": base_url, **options},
    )


def outbound(body: str = "Hello, World!", **fields) -> OutboundSMS:
    values = dict(
        from_number="+18445550001",
        to_number="+18445550002",
        body=body,
        idempotency_key="textdesk-msg-42",
        client_reference="42",
        status_callback_url="https://crm.example.com/webhooks/telnyx",
    )
    values.update(fields)
    return OutboundSMS(**values)


# ---------------------------------------------------------------- recorded events


@pytest.mark.parametrize("name", recorded.webhook_fixtures("telnyx"))
def test_recorded_event_parses(name):
    fixture = recorded.load("telnyx", name)
    request = recorded.as_request(fixture)
    parsed = (ADAPTER.parse_inbound if fixture["handler"] == "inbound" else ADAPTER.parse_status)(account(), request)
    items = parsed.inbound if fixture["handler"] == "inbound" else parsed.statuses
    assert len(items) == 1 and len(parsed.inbound) + len(parsed.statuses) == 1
    recorded.check_expected(items[0], fixture["expect"])


def test_one_url_receives_every_event_so_either_parser_reads_either_kind():
    inbound = recorded.as_request(recorded.load("telnyx", "message_received"))
    finalized = recorded.as_request(recorded.load("telnyx", "event_delivered"))
    assert len(ADAPTER.parse_status(account(), inbound).inbound) == 1
    assert len(ADAPTER.parse_inbound(account(), finalized).statuses) == 1


@pytest.mark.parametrize("code", sorted(adapter_module.ERROR_MAP))
def test_every_error_code_maps_to_its_neutral_reason(code):
    fixture = recorded.load("telnyx", "event_sending_failed")
    event = json.loads(fixture["body"])
    event["data"]["payload"]["errors"][0]["code"] = code
    report = ADAPTER.parse_status(account(), recorded.as_request(fixture, body=json.dumps(event).encode())).statuses[0]
    meaning = adapter_module.ERROR_MAP[code]
    assert (report.failure_reason, report.permanent, report.opt_out) == (
        meaning.reason,
        meaning.permanent,
        meaning.opt_out,
    )


def test_40300_is_an_opt_out():
    report = ADAPTER.parse_status(
        account(), recorded.as_request(recorded.load("telnyx", "event_sending_failed"))
    ).statuses[0]
    assert report.opt_out and report.failure_reason == failures.RECIPIENT_OPTED_OUT and report.permanent


def test_other_event_types_are_acknowledged_and_ignored():
    fixture = recorded.load("telnyx", "message_received")
    event = json.loads(fixture["body"])
    event["data"]["event_type"] = "number_order.complete"
    parsed = ADAPTER.parse_inbound(account(), recorded.as_request(fixture, body=json.dumps(event).encode()))
    assert parsed.inbound == [] and parsed.statuses == []


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[]", "JSON body is not an object"),
        (b'{"data": {"event_type": "message.received"}}', "not a Telnyx event: data.payload missing"),
        (
            b'{"data": {"event_type": "message.received", "payload": {"id": "x"}}}',
            "message.received without id, from.phone_number or to[0].phone_number",
        ),
        (
            b'{"data": {"event_type": "message.finalized", "payload": {"id": "x", "to": []}}}',
            "status event without id or to[0].status",
        ),
    ],
)
def test_malformed_events_are_400_with_the_reason(body, reason):
    fixture = recorded.load("telnyx", "message_received")
    with pytest.raises(WebhookRejected) as caught:
        ADAPTER.parse_inbound(account(), recorded.as_request(fixture, body=body))
    assert (caught.value.status, caught.value.reason) == (400, reason)


# ---------------------------------------------------------------- meta

# The SDK's outbound to[].status enum, plus the values inbound messages carry.
DOCUMENTED_OUTBOUND_STATUSES = [
    "queued",
    "sending",
    "sent",
    "delivered",
    "sending_failed",
    "delivery_failed",
    "delivery_unconfirmed",
    "expired",
]
DOCUMENTED_INBOUND_STATUSES = ["received", "webhook_delivered"]


def test_every_documented_status_is_mapped_and_has_a_recorded_event():
    assert set(adapter_module.STATUS_MAP) == set(DOCUMENTED_OUTBOUND_STATUSES + DOCUMENTED_INBOUND_STATUSES + ["read"])
    assert {f"event_{s}" for s in DOCUMENTED_OUTBOUND_STATUSES} <= set(recorded.names("telnyx"))
    assert set(adapter_module.STATUS_MAP.values()) <= set(statuses.OUTBOUND_STATES) | {statuses.RECEIVED}


def literal_values(annotation) -> set[str]:
    from typing import get_args

    values = set()
    for arg in get_args(annotation):
        values |= {arg} if isinstance(arg, str) else literal_values(arg)
    return values


def test_our_map_covers_the_sdks_recipient_status_enum():
    from telnyx.types.outbound_message_payload import To

    sdk_values = literal_values(To.model_fields["status"].annotation)
    assert set(DOCUMENTED_OUTBOUND_STATUSES) <= sdk_values
    assert sdk_values <= set(adapter_module.STATUS_MAP)  # "read" (RCS) too


def test_every_fixture_is_used():
    source = Path(__file__).read_text(encoding="utf-8")
    for name in recorded.webhook_fixtures("telnyx"):
        assert recorded.load("telnyx", name)["expect"], name
    assert [n for n in recorded.response_fixtures("telnyx") if f'"{n}"' not in source] == []


# ---------------------------------------------------------------- signatures


def signed_like_telnyx(body: bytes, seed: bytes, timestamp: int) -> dict[str, str]:
    """Sign as Telnyx does (Ed25519 over "{timestamp}|{body}"), written independently of our module."""
    signature = SigningKey(seed).sign(f"{timestamp}|".encode() + body).signature
    return {"Telnyx-Signature-Ed25519": base64.b64encode(signature).decode(), "Telnyx-Timestamp": str(timestamp)}


def public_key(seed: bytes) -> str:
    return base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()


def test_webhook_signed_as_telnyx_signs_is_accepted_by_the_sdk_and_by_us(seed):
    fixture = recorded.load("telnyx", "message_received")
    body = fixture["body"].encode()
    headers = signed_like_telnyx(body, seed, int(time.time()))
    verify_webhook_signature(body, headers, public_key(seed))  # the SDK agrees the test signs correctly
    ADAPTER.verify(account(public_key(seed)), recorded.as_request(fixture, headers=headers), recorded.now())


def test_our_signature_is_accepted_by_the_sdk(seed):
    body = recorded.load("telnyx", "event_delivered")["body"].encode()
    headers = adapter_module.sign_webhook(body, seed)
    verify_webhook_signature(body, headers, public_key(seed))
    assert adapter_module.public_key_for(seed) == public_key(seed)
    event = telnyx.Telnyx(api_key=API_KEY, public_key=public_key(seed)).webhooks.unwrap(body.decode(), headers=headers)
    assert event.data.event_type == "message.finalized"


def test_recorded_inbound_unwraps_as_the_sdks_typed_event(seed):
    body = recorded.load("telnyx", "message_received")["body"]
    headers = adapter_module.sign_webhook(body.encode(), seed)
    event = telnyx.Telnyx(api_key=API_KEY, public_key=public_key(seed)).webhooks.unwrap(body, headers=headers)
    assert event.data.payload.text == "Hello there!"


def rejected(acct, request) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        ADAPTER.verify(acct, request, recorded.now())
    return caught.value


def test_tampered_unsigned_stale_and_foreign_webhooks_are_refused(seed):
    fixture = recorded.load("telnyx", "event_delivered")
    body = fixture["body"].encode()
    acct = account(public_key(seed))
    headers = adapter_module.sign_webhook(body, seed)

    tampered_body = body.replace(b'"delivered"', b'"delivery_failed"')
    with pytest.raises(WebhookVerificationError):
        verify_webhook_signature(tampered_body, headers, public_key(seed))
    tampered = rejected(acct, recorded.as_request(fixture, body=tampered_body, headers=headers))
    assert (tampered.status, tampered.reason) == (403, "signature does not match")

    unsigned = rejected(acct, recorded.as_request(fixture))
    assert (unsigned.status, unsigned.reason) == (
        403,
        "unsigned webhook: telnyx-signature-ed25519 and telnyx-timestamp required",
    )

    old = adapter_module.sign_webhook(body, seed, timestamp=int(time.time()) - 301 - 5)
    with pytest.raises(WebhookVerificationError):
        verify_webhook_signature(body, old, public_key(seed))
    stale = rejected(acct, recorded.as_request(fixture, headers=old))
    assert (stale.status, stale.reason) == (403, "signature timestamp outside the 300 s window")

    moved = dict(headers, **{"telnyx-timestamp": str(int(headers["telnyx-timestamp"]) + 1)})
    assert rejected(acct, recorded.as_request(fixture, headers=moved)).reason == "signature does not match"

    other_seed = bytes(SigningKey.generate()._seed)
    assert rejected(account(public_key(other_seed)), recorded.as_request(fixture, headers=headers)).status == 403
    assert rejected(account(""), recorded.as_request(fixture, headers=headers)).reason == (
        "the Telnyx account has no valid Ed25519 public key"
    )

    garbled = dict(headers, **{"telnyx-signature-ed25519": "not base64!"})
    assert rejected(acct, recorded.as_request(fixture, headers=garbled)).status == 400


# ---------------------------------------------------------------- sending


def test_send_posts_json_with_bearer_and_idempotency_key(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("telnyx", "send_ok"))
    result = ADAPTER.send(account(base_url=fake_api.url, messaging_profile_id="4000eba1"), outbound(), http_client)
    assert (result.provider_message_id, result.status, result.provider_status, result.segments) == (
        "40385f64-5717-4562-b3fc-2c963f66afa6",
        "queued",
        "queued",
        1,
    )
    [request] = fake_api.received
    assert (request.method, request.path) == ("POST", "/v2/messages")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["idempotency-key"] == "textdesk-msg-42"
    assert request.json() == {
        "from": "+18445550001",
        "to": "+18445550002",
        "text": "Hello, World!",
        "messaging_profile_id": "4000eba1",
        "webhook_url": "https://crm.example.com/webhooks/telnyx",
    }


def test_our_request_matches_what_the_sdk_sends(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("telnyx", "send_ok"))
    fake_api.answer_recorded(recorded.load("telnyx", "send_ok"))
    ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)
    sdk = telnyx.Telnyx(api_key=API_KEY, base_url=fake_api.url + "/v2/", max_retries=0)
    sdk.messages.send(
        from_="+18445550001",
        to="+18445550002",
        text="Hello, World!",
        webhook_url="https://crm.example.com/webhooks/telnyx",
        idempotency_key="textdesk-msg-42",
    )
    ours, theirs = fake_api.received
    assert (ours.method, ours.path) == (theirs.method, theirs.path)
    assert ours.json() == theirs.json()
    for header in ("authorization", "idempotency-key", "content-type"):
        assert ours.headers[header] == theirs.headers[header]


def test_a_retry_sends_the_same_bytes_under_the_same_key(fake_api, http_client):
    fake_api.answer(503, {"errors": [{"code": "10007", "title": "Unexpected error"}]})
    fake_api.answer_recorded(recorded.load("telnyx", "send_ok"))
    with pytest.raises(RetryableProviderError):
        ADAPTER.send(account(base_url=fake_api.url), outbound("Olá 🙂"), http_client)
    ADAPTER.send(account(base_url=fake_api.url), outbound("Olá 🙂"), http_client)
    first, second = fake_api.received
    assert first.body == second.body and first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert ADAPTER.supports_idempotency


def test_a_key_outside_the_allowed_alphabet_is_hashed():
    assert adapter_module.idempotency_header("msg 42/attempt") == adapter_module.idempotency_header("msg 42/attempt")
    assert len(adapter_module.idempotency_header("msg 42/attempt")) == 64
    assert adapter_module.idempotency_header("abc:12-x_y") == "abc:12-x_y"


@pytest.mark.parametrize(
    "name, error_class, reason",
    [
        ("send_opted_out", PermanentProviderError, failures.RECIPIENT_OPTED_OUT),
        ("send_missing_parameter", PermanentProviderError, failures.INVALID_SENDING_PARAMETERS),
        ("send_unauthorized", PermanentProviderError, failures.PROVIDER_AUTH_FAILED),
        ("send_rate_limited", RetryableProviderError, failures.RATE_LIMITED),
        ("send_server_error", RetryableProviderError, failures.PROVIDER_UNAVAILABLE),
    ],
)
def test_recorded_send_errors(fake_api, http_client, name, error_class, reason):
    fake_api.answer_recorded(recorded.load("telnyx", name))
    with pytest.raises(error_class) as caught:
        ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)
    assert caught.value.reason == reason
    if name == "send_opted_out":
        assert caught.value.opt_out and caught.value.code == "40300"
    if name == "send_rate_limited":
        assert caught.value.retry_after == 2.0


def test_an_unmapped_validation_code_is_permanent(fake_api, http_client):
    fake_api.answer(422, {"errors": [{"code": "10032", "title": "Invalid value", "detail": "Bad encoding"}]})
    with pytest.raises(PermanentProviderError) as caught:
        ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)
    assert (caught.value.reason, caught.value.code) == (failures.INVALID_SENDING_PARAMETERS, "10032")


def test_gateway_timeout_and_slow_answer_leave_the_outcome_unknown(fake_api, http_client):
    fake_api.answer(504, "upstream timed out", {"content-type": "text/plain"})
    fake_api.answer(200, {}, hang=True)
    for _ in range(2):
        with pytest.raises(OutcomeUnknownError):
            ADAPTER.send(account(base_url=fake_api.url, timeout=0.3), outbound(), http_client)


def test_accepted_without_an_id_leaves_the_outcome_unknown(fake_api, http_client):
    fake_api.answer(200, {"data": {}})
    with pytest.raises(OutcomeUnknownError):
        ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)


def test_a_conflict_on_the_idempotency_key_is_retryable(fake_api, http_client):
    fake_api.answer(409, {"errors": [{"code": "409", "title": "Conflict", "detail": "Request in progress"}]})
    with pytest.raises(RetryableProviderError):
        ADAPTER.send(account(base_url=fake_api.url), outbound(), http_client)


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_body_we_sign_verifies_with_the_sdk_and_with_us(text):
    seed = bytes(range(32))
    body = json.dumps(
        {"data": {"event_type": "message.received", "payload": {"text": text}}}, ensure_ascii=False
    ).encode()
    headers = adapter_module.sign_webhook(body, seed)
    verify_webhook_signature(body, headers, public_key(seed))
    ADAPTER.verify(
        account(public_key(seed)),
        recorded.as_request(recorded.load("telnyx", "message_received"), body=body, headers=headers),
        recorded.now(),
    )
