"""MessageBird adapter: recorded (signed) status reports and inbound messages, send answers, and the
``MessageBird-Signature-JWT`` check against the official SDK's RequestValidator."""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx
import jwt
import pytest

from tests.providers._fake_api import FakeProviderAPI
from tests.providers._fake_api_rest import (
    covered_codes,
    fixture_files,
    load_cases,
    run_send_case,
    run_webhook_case,
)
from textdesk.providers import messagebird
from textdesk.providers.base import AccountConfig, OutboundSMS, OutcomeUnknownError, WebhookRejected, WebhookRequest

SIGNING_KEY = "PlLrKaqvZNRR5zAjm42ZT6q1SQxgbbGd"
ACCOUNT = AccountConfig(
    kind="messagebird",
    credentials={"access_key": "test_gshuPaZoeEG6ovbc8M79w0QyM", "signing_key": SIGNING_KEY},
    status_url="https://td.example.com/webhooks/mb-status-key/status",
)
MESSAGE = OutboundSMS(
    from_number="+3197010260000",
    to_number="+31612345678",
    body="Hi Ana, the quote is ready.",
    idempotency_key="KEY-1",
    client_reference="msg-42",
)

DOCUMENTED_STATUSES = {"scheduled", "sent", "buffered", "delivered", "expired", "delivery_failed"}


def account_at(url: str) -> AccountConfig:
    return AccountConfig(
        kind="messagebird",
        credentials=dict(ACCOUNT.credentials),
        options={"base_url": url},
        status_url=ACCOUNT.status_url,
    )


@pytest.mark.parametrize(
    "case", [c for _, c in load_cases("messagebird")], ids=[i for i, _ in load_cases("messagebird")]
)
def test_recorded_fixture(case):
    if "request" in case:
        run_webhook_case(messagebird.PROVIDER, ACCOUNT, case)
    else:
        run_send_case(messagebird.PROVIDER, account_at, case, MESSAGE)


def test_every_fixture_is_used_and_every_documented_value_is_mapped():
    assert {p.stem for p in fixture_files("messagebird")} == {"status_reports", "inbound", "send_responses"}
    statuses, codes = covered_codes("messagebird")
    assert DOCUMENTED_STATUSES == set(messagebird.STATUS_MAP)
    assert DOCUMENTED_STATUSES <= statuses, DOCUMENTED_STATUSES - statuses
    assert set(messagebird.ERROR_MAP) <= codes, set(messagebird.ERROR_MAP) - codes


def test_send_speaks_the_documented_request():
    api = FakeProviderAPI().start()
    try:
        api.answer(
            201,
            {
                "id": "e8077d803532c0b5937c639b60216938",
                "recipients": {"items": [{"recipient": 31612345678, "status": "sent"}]},
            },
        )
        with httpx.Client(timeout=5) as client:
            result = messagebird.PROVIDER.send(account_at(api.url), MESSAGE, client)
        assert (result.provider_message_id, result.status) == ("e8077d803532c0b5937c639b60216938", "sent")
        [received] = api.received
        assert (received.method, received.path) == ("POST", "/messages")
        assert received.headers["authorization"] == "AccessKey test_gshuPaZoeEG6ovbc8M79w0QyM"
        assert received.json() == {
            "originator": "3197010260000",
            "recipients": ["31612345678"],
            "body": "Hi Ana, the quote is ready.",
            "reference": "msg-42",
            "reportUrl": "https://td.example.com/webhooks/mb-status-key/status",
        }
    finally:
        api.stop()


def test_slow_answer_means_the_outcome_is_unknown():
    api = FakeProviderAPI().start()
    try:
        api.answer(201, {}, hang=True)
        with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as client:
            with pytest.raises(OutcomeUnknownError):
                messagebird.PROVIDER.send(account_at(api.url), MESSAGE, client)
    finally:
        api.stop()


# ---------------------------------------------------------------- signatures

URL = "https://td.example.com/webhooks/mb-status-key/status?id=e8077d8&reference=msg-42&status=delivered"
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def _token(
    url: str = URL,
    body: bytes = b"",
    *,
    key: str = SIGNING_KEY,
    nbf: int | None = None,
    exp: int | None = None,
    iss: str = "MessageBird",
    algorithm: str = "HS256",
    payload_hash=None,
    drop: str = "",
) -> str:
    issued = int(NOW.timestamp())
    claims = {
        "iss": iss,
        "nbf": issued if nbf is None else nbf,
        "exp": issued + 60 if exp is None else exp,
        "jti": "8f0c2b7e-1d2a-4c3b-9e4f-5a6b7c8d9e0f",
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    if payload_hash is not None:
        claims["payload_hash"] = payload_hash
    claims.pop(drop, None)
    return jwt.encode(claims, key, algorithm=algorithm)


def _verify(token: str | None, url: str = URL, body: bytes = b"", now: dt.datetime = NOW) -> None:
    headers = {} if token is None else {"messagebird-signature-jwt": token}
    messagebird.PROVIDER.verify(ACCOUNT, WebhookRequest("GET" if not body else "POST", url, headers, body), now)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # our test key, their algorithms
@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_a_token_made_by_hand_with_pyjwt_is_accepted(algorithm):
    _verify(_token(algorithm=algorithm))
    _verify(_token(body=b'{"a":1}'), body=b'{"a":1}')


def test_the_official_request_validator_accepts_our_signer():
    validator = pytest.importorskip("messagebird.request_validator")
    now = dt.datetime.now(dt.UTC)  # the SDK checks nbf/exp against the wall clock
    body = b"originator=31612345678&body=hi"
    claims = validator.RequestValidator(SIGNING_KEY).validate_signature(
        messagebird.sign_request(SIGNING_KEY, URL, body, now), URL, body
    )
    assert claims["iss"] == "MessageBird"
    claims = validator.RequestValidator(SIGNING_KEY).validate_signature(
        messagebird.sign_request(SIGNING_KEY, URL, b"", now), URL, b""
    )
    assert "payload_hash" not in claims
    # …and our verify accepts what our signer made, as MessageBird's servers would send it
    _verify(messagebird.sign_request(SIGNING_KEY, URL, body, now), body=body, now=now)


def test_the_official_request_validator_rejects_what_we_reject():
    validator = pytest.importorskip("messagebird.request_validator")
    from messagebird.error import ValidationError

    now = dt.datetime.now(dt.UTC)
    token = messagebird.sign_request(SIGNING_KEY, URL, b"body", now)
    for url, body in [(URL + "&x=1", b"body"), (URL, b"bodY")]:
        with pytest.raises(ValidationError):
            validator.RequestValidator(SIGNING_KEY).validate_signature(token, url, body)
        with pytest.raises(WebhookRejected):
            _verify(token, url=url, body=body, now=now)


@pytest.mark.parametrize(
    ("token", "url", "body", "now", "status", "reason"),
    [
        (None, URL, b"", NOW, 401, "missing MessageBird-Signature-JWT header"),
        ("not-a-jwt", URL, b"", NOW, 401, "malformed JWT: Not enough segments"),
        (
            _token(key="another-signing-key-0123456789ab"),
            URL,
            b"",
            NOW,
            403,
            "JWT signature does not match the signing key",
        ),
        (_token(iss="Someone"), URL, b"", NOW, 403, "JWT issuer is not MessageBird"),
        (_token(drop="exp"), URL, b"", NOW, 403, "JWT lacks the exp claim"),
        (_token(drop="nbf"), URL, b"", NOW, 403, "JWT lacks the nbf claim"),
        (_token(), URL, b"", NOW + dt.timedelta(seconds=61), 401, "JWT expired (stale request)"),
        (_token(), URL, b"", NOW - dt.timedelta(seconds=5), 401, "JWT not valid yet (nbf in the future)"),
        (_token(), URL.replace("delivered", "expired"), b"", NOW, 403, "url_hash does not match the requested URL"),
        (_token(body=b"a=1"), URL, b"a=2", NOW, 403, "payload_hash does not match the body"),
        (_token(), URL, b"a=1", NOW, 403, "body present but JWT has no payload_hash"),
        (
            _token(payload_hash=hashlib.sha256(b"a=1").hexdigest()),
            URL,
            b"",
            NOW,
            403,
            "JWT has payload_hash but the body is empty",
        ),
    ],
)
def test_unsigned_tampered_or_stale_requests_are_rejected(token, url, body, now, status, reason):
    with pytest.raises(WebhookRejected) as caught:
        _verify(token, url=url, body=body, now=now)
    assert (caught.value.status, caught.value.reason) == (status, reason)


def test_one_second_of_clock_leeway_like_the_sdk():
    _verify(_token(), now=NOW + dt.timedelta(seconds=60))  # at exp itself: still inside the 1 s leeway
    _verify(_token(), now=NOW - dt.timedelta(seconds=1))


def test_unsigned_algorithm_none_is_rejected():
    token = jwt.encode(
        {
            "iss": "MessageBird",
            "nbf": int(NOW.timestamp()),
            "exp": int(NOW.timestamp()) + 60,
            "url_hash": hashlib.sha256(URL.encode()).hexdigest(),
        },
        None,
        algorithm="none",
    )
    with pytest.raises(WebhookRejected) as caught:
        _verify(token)
    assert caught.value.status == 403


def test_inbound_as_signed_json_with_the_older_field_name():
    body = b'{"id": "d1", "originator": "31612345678", "recipient": "3197010260000", "message": "Call me"}'
    url = "https://td.example.com/webhooks/mb-inbound-key/inbound"
    request = WebhookRequest(
        "POST", url, {"content-type": "application/json", "messagebird-signature-jwt": _token(url, body)}, body
    )
    messagebird.PROVIDER.verify(ACCOUNT, request, NOW)
    [message] = messagebird.PROVIDER.parse_inbound(ACCOUNT, request).inbound
    assert (message.provider_message_id, message.from_number, message.body) == ("d1", "+31612345678", "Call me")
