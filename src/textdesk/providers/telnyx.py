"""Telnyx Messaging v2: ``POST /v2/messages`` (Bearer key), JSON event webhooks signed with Ed25519.

Telnyx posts every message event of a messaging profile (inbound and status) to the same URL, so both
``parse_inbound`` and ``parse_status`` read any event. Options: ``messaging_profile_id``,
``signature_window`` (seconds, default 300), ``base_url``, ``timeout``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import time

import httpx
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from textdesk.domain import failures, status
from textdesk.providers import _http, _webhooks
from textdesk.providers._http import ErrorMeaning
from textdesk.providers.base import (
    AccountConfig,
    CredentialField,
    InboundSMS,
    OutboundSMS,
    OutcomeUnknownError,
    ParsedWebhook,
    PermanentProviderError,
    RetryableProviderError,
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
)

API_BASE = "https://api.telnyx.com"
DEFAULT_WINDOW = 300
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"

# ``payload.to[].status`` of outbound messages, plus the two values inbound messages carry.
STATUS_MAP: dict[str, str | None] = {
    "queued": status.QUEUED,
    "sending": status.SENDING,
    "sent": status.SENT,
    "delivered": status.DELIVERED,
    "sending_failed": status.FAILED,
    "delivery_failed": status.UNDELIVERED,
    "delivery_unconfirmed": status.SENT,  # final for Telnyx: the carrier gave no receipt
    "expired": status.UNDELIVERED,
    "read": status.DELIVERED,  # in the SDK's enum (RCS); an SMS never reports it
    "received": status.RECEIVED,
    "webhook_delivered": status.RECEIVED,
}

# Error codes, from send answers (``errors[].code``) and from ``payload.errors[]`` of status events.
ERROR_MAP: dict[str, ErrorMeaning] = {
    # 10xxx: the request itself was refused.
    "10001": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "10004": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # missing parameter
    "10005": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # resource not found
    "10007": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),  # unexpected error
    "10009": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # authentication failed
    "10010": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # authorization failed
    "10011": ErrorMeaning(failures.RATE_LIMITED, permanent=False),  # too many requests
    "10015": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # bad request
    "10016": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # number not E.164
    # 40xxx: delivery.
    "40001": ErrorMeaning(failures.LANDLINE, permanent=True),  # not routable (landline or similar)
    "40002": ErrorMeaning(failures.CARRIER_FILTERED, permanent=False),  # spam, temporary
    "40003": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # spam, permanent
    "40004": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=True),  # rejected by destination
    "40005": ErrorMeaning(failures.EXPIRED, permanent=False),
    "40006": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # recipient server unavailable
    "40008": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # undeliverable
    "40009": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid body
    "40011": ErrorMeaning(failures.RATE_LIMITED, permanent=False),  # upstream rate limit
    "40012": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid destination
    "40013": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid source
    "40014": ErrorMeaning(failures.EXPIRED, permanent=False),  # expired in queue
    "40015": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # internal spam filter
    "40300": ErrorMeaning(failures.RECIPIENT_OPTED_OUT, permanent=True, opt_out=True),  # blocked: STOP
}

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_:-]{1,255}$")


def idempotency_header(key: str) -> str:
    """Telnyx accepts keys of 1–255 letters, digits, ``-``, ``_`` and ``:``; anything else is hashed."""
    return key if _IDEMPOTENCY_KEY.match(key) else hashlib.sha256(key.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- signing (also used by the simulator)


def public_key_for(seed: bytes) -> str:
    """The base64 public key (as Telnyx shows it in the portal) of an Ed25519 seed."""
    return base64.b64encode(bytes(SigningKey(seed).verify_key)).decode("ascii")


def sign_webhook(body: bytes, seed: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The signature headers Telnyx adds: Ed25519 over ``f"{timestamp}|{raw body}"``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SigningKey(seed).sign(ts.encode("ascii") + b"|" + body).signature
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"), TIMESTAMP_HEADER: ts}


# ---------------------------------------------------------------- the adapter


def _first_error(errors: object) -> tuple[str, str]:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("code") or ""), str(first.get("detail") or first.get("title") or "")
    return "", ""


class TelnyxProvider:
    kind = "telnyx"
    display_name = "Telnyx"
    credential_fields = (
        CredentialField("api_key", "API key"),
        CredentialField(
            "public_key",
            "Public key",
            secret=False,
            help="Mission Control → Keys & Credentials → Public Key; verifies webhook signatures.",
        ),
    )
    # Telnyx replays a successful answer for a repeated Idempotency-Key (same path, byte-identical body) for
    # 24 hours, so a send whose answer was lost can be retried safely within that time.
    supports_idempotency = True
    supports_lookup = False
    reports_delivery = True

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        body = {"from": message.from_number, "to": message.to_number, "text": message.body}
        profile = account.options.get("messaging_profile_id")
        if profile:
            body["messaging_profile_id"] = str(profile)
        if message.status_callback_url:
            body["webhook_url"] = message.status_callback_url
        # Serialised by us, deterministically: a retry must send the very same bytes to match the key.
        content = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {
            "Authorization": "Bearer " + _http.credential(account, "api_key"),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_header(message.idempotency_key),
        }
        response = _http.send_request(
            client,
            "POST",
            account.base_url(API_BASE) + "/v2/messages",
            content=content,
            headers=headers,
            timeout=_http.timeout_for(account.options),
        )
        if response.status_code in (200, 201, 202):
            data = _http.json_dict(response).get("data")
            if not isinstance(data, dict) or not data.get("id"):
                raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", "accepted without a message id")
            to = data.get("to") if isinstance(data.get("to"), list) else []
            provider_status = str(to[0].get("status", "queued")) if to and isinstance(to[0], dict) else "queued"
            return SendResult(
                provider_message_id=str(data["id"]),
                status=STATUS_MAP.get(provider_status) or status.QUEUED,
                provider_status=provider_status,
                segments=_webhooks.to_int(data.get("parts")),
            )
        code, text = _first_error(_http.json_dict(response).get("errors"))
        _http.raise_for_busy(response, code, text)
        if code in ERROR_MAP:
            raise ERROR_MAP[code].error(code, text)
        _http.raise_for_auth(response, code, text)
        if response.status_code == 409:
            # The first request under this Idempotency-Key is still being processed; asking again later
            # under the same key replays its answer, so waiting is safe.
            raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, code or "409", text)
        if code.startswith("10") or response.status_code in (400, 422):
            raise PermanentProviderError(failures.INVALID_SENDING_PARAMETERS, code or str(response.status_code), text)
        raise PermanentProviderError(failures.UNKNOWN, code or str(response.status_code), text)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult | None:
        return None  # not needed: a retry with the same Idempotency-Key returns the original answer

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        signature_b64 = request.header(SIGNATURE_HEADER)
        timestamp = request.header(TIMESTAMP_HEADER)
        if not signature_b64 or not timestamp:
            raise WebhookRejected(403, f"unsigned webhook: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} required")
        try:
            public_key = base64.b64decode(account.credentials.get("public_key", ""), validate=True)
            verify_key = VerifyKey(public_key)
        except (binascii.Error, ValueError, TypeError):
            raise WebhookRejected(403, "the Telnyx account has no valid Ed25519 public key") from None
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except binascii.Error:
            raise WebhookRejected(400, "signature header is not base64") from None
        if len(signature) != 64:
            raise WebhookRejected(400, "signature is not 64 bytes")
        if not timestamp.isdigit():
            raise WebhookRejected(400, "timestamp header is not a unix time")
        try:
            verify_key.verify(timestamp.encode("ascii") + b"|" + request.body, signature)
        except BadSignatureError:
            raise WebhookRejected(403, "signature does not match") from None
        _webhooks.check_timestamp_window(timestamp, now, _webhooks.signature_window(account.options, DEFAULT_WINDOW))

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return self._parse_event(request)

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return self._parse_event(request)

    def _parse_event(self, request: WebhookRequest) -> ParsedWebhook:
        envelope = _webhooks.json_object(request.body)
        data = envelope.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
            raise WebhookRejected(400, "not a Telnyx event: data.payload missing")
        event_type = str(data.get("event_type") or "")
        payload = data["payload"]
        if event_type == "message.received":
            return ParsedWebhook(inbound=[_inbound(payload)])
        if event_type in ("message.sent", "message.finalized"):
            return ParsedWebhook(statuses=[_status(payload, _webhooks.parse_timestamp(data.get("occurred_at")))])
        return ParsedWebhook()  # other events (e.g. number or profile events) are acknowledged and ignored


def _inbound(payload: dict) -> InboundSMS:
    sender = payload.get("from")
    sender = sender if isinstance(sender, dict) else {}
    to = payload.get("to") if isinstance(payload.get("to"), list) else []
    recipient = to[0] if to and isinstance(to[0], dict) else {}
    if not payload.get("id") or not sender.get("phone_number") or not recipient.get("phone_number"):
        raise WebhookRejected(400, "message.received without id, from.phone_number or to[0].phone_number")
    return InboundSMS(
        provider_message_id=str(payload["id"]),
        from_number=str(sender["phone_number"]),
        to_number=str(recipient["phone_number"]),
        body=str(payload.get("text") or ""),
        segments=_webhooks.to_int(payload.get("parts")),
        received_at=_webhooks.parse_timestamp(payload.get("received_at")),
    )


def _status(payload: dict, occurred_at: dt.datetime | None) -> StatusReport:
    to = payload.get("to") if isinstance(payload.get("to"), list) else []
    recipient = to[0] if to and isinstance(to[0], dict) else {}
    if not payload.get("id") or not recipient.get("status"):
        raise WebhookRejected(400, "status event without id or to[0].status")
    provider_status = str(recipient["status"])
    neutral = STATUS_MAP.get(provider_status)
    code, text = _first_error(payload.get("errors"))
    reason, permanent, opt_out = "", False, False
    if code or neutral in (status.FAILED, status.UNDELIVERED):
        meaning = ERROR_MAP.get(code, ErrorMeaning(failures.UNKNOWN, permanent=False))
        reason, permanent, opt_out = meaning.reason, meaning.permanent, meaning.opt_out
    return StatusReport(
        provider_message_id=str(payload["id"]),
        provider_status=provider_status,
        status=neutral,
        error_code=code,
        error_text=text,
        failure_reason=reason,
        permanent=permanent,
        opt_out=opt_out,
        occurred_at=occurred_at or _webhooks.parse_timestamp(payload.get("completed_at") or payload.get("sent_at")),
    )


PROVIDER = TelnyxProvider()
