"""The generic HTTP gateway: a small JSON contract any SMS gateway can implement (docs/generic-provider.md).

Outbound: ``POST {base_url}/messages`` with ``Authorization: Bearer <api_key>``; our ``id`` is an
idempotency key. Inbound and delivery reports: JSON POSTs to us, signed with
``X-TextDesk-Signature = hex HMAC-SHA256(signing_secret, "<timestamp>.<raw body>")``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Mapping

import httpx
from django.utils.translation import gettext_lazy as _

from textdesk.domain import failures, status
from textdesk.providers import _http, _webhooks
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
    WebhookResponse,
)

TIMESTAMP_HEADER = "X-TextDesk-Timestamp"
SIGNATURE_HEADER = "X-TextDesk-Signature"
REPLAY_WINDOW_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024

# The gateway's delivery ``status`` → neutral status.
STATUS_MAP: dict[str, str] = {
    "sent": status.SENT,
    "delivered": status.DELIVERED,
    "not_delivered": status.UNDELIVERED,
}

# A gateway may answer with one of our neutral reasons as ``code``; anything else is kept but read as Unknown.
KNOWN_REASONS = frozenset(failures.REASONS)


def reason_for(code: str) -> str:
    return code if code in KNOWN_REASONS else failures.UNKNOWN


def sign(signing_secret: str, timestamp: int | str, body: bytes) -> str:
    """The value of ``X-TextDesk-Signature`` for a body sent at ``timestamp`` (unix seconds)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(signing_secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers for a signed JSON POST (what a gateway sends us; the simulator uses it too)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(signing_secret, ts, body),
    }


def _json_object(request: WebhookRequest) -> dict:
    if request.content_type != "application/json":
        raise WebhookRejected(415, f"expected application/json, got {request.content_type or 'no content type'}")
    if len(request.body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "body larger than 64 KiB")
    return _webhooks.json_object(request.body)


def _text_field(data: Mapping, name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise WebhookRejected(400, f"missing field {name!r}")
        return ""
    if not isinstance(value, str | int):
        raise WebhookRejected(400, f"field {name!r} must be a string")
    return str(value)


class GenericProvider:
    kind = "generic"
    display_name = "Generic HTTP gateway"
    credential_fields = (
        CredentialField("api_key", _("API key"), secret=True, help=_("Sent to the gateway as a bearer token.")),
        CredentialField(
            "signing_secret",
            _("Signing secret"),
            secret=True,
            help=_("Shared with the gateway; it signs its webhooks to us with it."),
        ),
    )
    supports_idempotency = True  # the contract requires the gateway to treat our "id" as an idempotency key
    supports_lookup = False
    reports_delivery = True
    supports_status_fetch = True  # GET {base_url}/messages/{id}, optional in the contract (404 when not offered)

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        url, options = self._create_request(account, message)
        # A lost answer is safe to retry with the same id later, but for now we cannot know whether it was taken.
        return self._read_answer(_http.send_request(client, "POST", url, **options))

    async def send_async(self, account: AccountConfig, message: OutboundSMS, session) -> SendResult:
        """:meth:`send` over an ``aiohttp.ClientSession`` (the pipelined send path)."""
        url, options = self._create_request(account, message)
        return self._read_answer(await _http.send_request_async(session, "POST", url, **options))

    def _create_request(self, account: AccountConfig, message: OutboundSMS) -> tuple[str, dict]:
        base = account.base_url("")
        if not base:
            raise PermanentProviderError(failures.INVALID_SENDING_PARAMETERS, "", "the gateway has no base_url option")
        payload = {
            "id": message.idempotency_key,
            "from": message.from_number,
            "to": message.to_number,
            "body": message.body,
            "status_callback_url": message.status_callback_url,
        }
        headers = {"Authorization": f"Bearer {account.credentials.get('api_key', '')}", "Accept": "application/json"}
        return f"{base}/messages", {"json": payload, "headers": headers}

    def _read_answer(self, response: _http.Answer) -> SendResult:
        code = response.status_code
        data = _http.json_dict(response)
        text = str(data.get("reason") or response.reason_phrase)
        gateway_code = str(data.get("code") or "")
        _http.raise_for_transport_status(response, gateway_code, text)
        if 200 <= code < 300 and data.get("accepted") is True and data.get("id"):
            return SendResult(provider_message_id=str(data["id"]), status=status.QUEUED, provider_status="accepted")
        if 200 <= code < 300 and data.get("accepted") is not False:
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, str(code), "unreadable answer to a send")
        reason = reason_for(gateway_code)
        opt_out = reason == failures.RECIPIENT_OPTED_OUT
        # A refusal is final unless the gateway says otherwise.
        if data.get("permanent") is False:
            raise RetryableProviderError(reason, gateway_code, text, opt_out=opt_out)
        raise PermanentProviderError(reason, gateway_code or str(code), text, opt_out=opt_out)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult | None:
        return None  # not needed: sending again with the same id is safe

    def fetch_status(
        self, account: AccountConfig, provider_message_id: str, client: httpx.Client
    ) -> StatusReport | None:
        """``GET {base_url}/messages/{id}`` answers ``{"id", "status", "reason"?, "code"?}`` like a delivery report;
        404 (or a gateway that does not offer it) means the gateway cannot tell."""
        base = account.base_url("")
        if not base:
            return None
        headers = {"Authorization": f"Bearer {account.credentials.get('api_key', '')}", "Accept": "application/json"}
        response = _http.send_request(client, "GET", f"{base}/messages/{provider_message_id}", headers=headers)
        data = _http.json_dict(response)
        _http.raise_for_transport_status(response, str(data.get("code") or ""), response.reason_phrase)
        gateway_status = str(data.get("status") or "")
        if response.status_code != 200 or gateway_status not in STATUS_MAP:
            return None
        code = str(data.get("code") or "")
        failed = STATUS_MAP[gateway_status] == status.UNDELIVERED
        reason = reason_for(code) if failed else ""
        return StatusReport(
            provider_message_id=provider_message_id,
            provider_status=gateway_status,
            status=STATUS_MAP[gateway_status],
            error_code=code,
            error_text=str(data.get("reason") or ""),
            failure_reason=reason,
            permanent=failed,
            opt_out=failed and reason == failures.RECIPIENT_OPTED_OUT,
        )

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime | None = None) -> None:
        secret = account.credentials.get("signing_secret", "")
        if not secret:
            raise WebhookRejected(403, "the provider account has no signing secret")
        timestamp = request.header(TIMESTAMP_HEADER).strip()
        signature = request.header(SIGNATURE_HEADER).strip().lower()
        if not timestamp or not signature:
            raise WebhookRejected(403, "missing X-TextDesk-Timestamp or X-TextDesk-Signature header")
        if not timestamp.isdigit():
            raise WebhookRejected(403, "X-TextDesk-Timestamp must be unix seconds")
        if not _webhooks.same_secret(signature, sign(secret, timestamp, request.body)):
            raise WebhookRejected(403, "X-TextDesk-Signature does not match the body")
        # Checked after the signature so a forged timestamp cannot be told apart from a stale one.
        _webhooks.check_timestamp_window(timestamp, now or dt.datetime.now(dt.UTC), REPLAY_WINDOW_SECONDS)

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        data = _json_object(request)
        inbound = InboundSMS(
            provider_message_id=_text_field(data, "id"),
            from_number=_text_field(data, "from"),
            to_number=_text_field(data, "to"),
            body=_text_field(data, "body", required=False),
            received_at=request.received_at,
        )
        return ParsedWebhook(inbound=[inbound], response=WebhookResponse(204))

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        data = _json_object(request)
        gateway_status = _text_field(data, "status")
        if gateway_status not in STATUS_MAP:
            raise WebhookRejected(400, f"unknown status {gateway_status!r}; expected one of {sorted(STATUS_MAP)}")
        neutral = STATUS_MAP[gateway_status]
        code = _text_field(data, "code", required=False)
        failed = neutral == status.UNDELIVERED
        reason = reason_for(code) if failed else ""
        report = StatusReport(
            provider_message_id=_text_field(data, "id"),
            provider_status=gateway_status,
            status=neutral,
            error_code=code,
            error_text=_text_field(data, "reason", required=False),
            failure_reason=reason,
            permanent=failed,
            opt_out=failed and reason == failures.RECIPIENT_OPTED_OUT,
            occurred_at=request.received_at,
        )
        return ParsedWebhook(statuses=[report], response=WebhookResponse(204))


PROVIDER = GenericProvider()
