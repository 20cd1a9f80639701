"""Plivo: ``POST /v1/Account/{auth_id}/Message/`` (Basic auth, JSON), form webhooks signed with
``X-Plivo-Signature-V3`` (or, when the account opts in, the older V2).

Options: ``signature_version`` (``"v3"`` default; ``"v2"`` also accepts V2 signatures, which do not cover
the parameters), ``base_url``, ``timeout``. Plivo signatures carry no timestamp, so there is no replay
window; a nonce is part of what is signed but Plivo does not promise it is unique.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

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
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
)

API_BASE = "https://api.plivo.com"
V3_HEADER = "x-plivo-signature-v3"
V3_NONCE_HEADER = "x-plivo-signature-v3-nonce"
V2_HEADER = "x-plivo-signature-v2"
V2_NONCE_HEADER = "x-plivo-signature-v2-nonce"

# Status callback ``Status``. ``read`` is WhatsApp-only; ``rejected`` appears in older documentation.
STATUS_MAP: dict[str, str | None] = {
    "queued": status.QUEUED,
    "sent": status.SENT,
    "delivered": status.DELIVERED,
    "undelivered": status.UNDELIVERED,
    "failed": status.FAILED,
    "read": status.DELIVERED,
    "rejected": status.FAILED,
    "received": status.RECEIVED,
}

# Status callback ``ErrorCode``.
ERROR_MAP: dict[str, ErrorMeaning] = {
    "10": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid message
    "20": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # network error
    "30": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # spam detected
    "40": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid source number
    "50": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid destination number
    "60": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # loop detected
    "70": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=True),  # destination permanently unavailable
    "80": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # destination temporarily unavailable
    "90": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=True),  # no route available
    "100": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # prohibited by carrier
    "110": ErrorMeaning(failures.BODY_TOO_LONG, permanent=True),
    "200": ErrorMeaning(failures.RECIPIENT_OPTED_OUT, permanent=True, opt_out=True),  # blocked by STOP
    "300": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),  # failed to dispatch
    "420": ErrorMeaning(failures.EXPIRED, permanent=False),
    "450": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # destination country barred
    "900": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # insufficient credit
    "910": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # account disabled
    "1000": ErrorMeaning(failures.UNKNOWN, permanent=False),
}

# Inbound ``MessageIntent``: Plivo flags keyword messages for us.
INTENT_MAP: dict[str, str | None] = {"optout": "opt_out", "optin": "opt_in", "help": "help", "": None}


# ---------------------------------------------------------------- signing (also used by the simulator)


def _sorted_query(params: Mapping[str, list[str]]) -> str:
    return "&".join(f"{key}={value}" for key in sorted(params) for value in sorted(params[key]))


def _sorted_concatenation(params: Mapping[str, list[str]]) -> str:
    return "".join(f"{key}{value}" for key in sorted(params) for value in sorted(params[key]))


def v3_base(url: str, params: Mapping[str, list[str]], method: str = "POST") -> str:
    """What V3 signs before ``.nonce``. POST: ``scheme://host/path?sorted-query`` + ``.`` (when both a
    query and parameters exist) + the parameters as ``keyvalue`` pairs; GET: the query and the
    parameters merged into one sorted ``k=v&…`` string. (Mirrors the official SDK's construction.)"""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = parse_qs(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        merged = {**params, **query}
        query_string = _sorted_query(merged)
        return base + ("?" + query_string if query_string else "")
    query_string = _sorted_query(query)
    if query_string or params:
        base += "?" + query_string
    if query_string and params:
        base += "."
    return base + _sorted_concatenation(params)


def signature_v3(url: str, params: Mapping[str, list[str]], nonce: str, auth_token: str, method: str = "POST") -> str:
    message = f"{v3_base(url, params, method)}.{nonce}".encode()
    return base64.b64encode(hmac.new(auth_token.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


def signature_v2(url: str, nonce: str, auth_token: str) -> str:
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    digest = hmac.new(auth_token.encode("utf-8"), (base + nonce).encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_webhook(
    url: str, params: Mapping[str, str], auth_token: str, nonce: str, method: str = "POST"
) -> dict[str, str]:
    """The signature headers Plivo adds to a callback (V3 and V2)."""
    as_lists = {key: [value] for key, value in params.items()}
    return {
        "X-Plivo-Signature-V3": signature_v3(url, as_lists, nonce, auth_token, method),
        "X-Plivo-Signature-V3-Nonce": nonce,
        "X-Plivo-Signature-V2": signature_v2(url, nonce, auth_token),
        "X-Plivo-Signature-V2-Nonce": nonce,
    }


# ---------------------------------------------------------------- the adapter


def _body_params(request: WebhookRequest) -> dict[str, list[str]]:
    """POST form parameters (the query is part of the signed URL, not of these)."""
    if request.method.upper() == "GET" or not request.body:
        return {}
    if request.content_type not in ("application/x-www-form-urlencoded", ""):
        raise WebhookRejected(415, f"unsupported content type {request.content_type!r}")
    try:
        return parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not UTF-8") from None


def _matches(given_header: str, expected: str) -> bool:
    """Plivo may send several comma-separated signatures; any one may match."""
    found = False
    for candidate in given_header.split(","):
        found |= _webhooks.same_secret(candidate.strip(), expected)
    return found


class PlivoProvider:
    kind = "plivo"
    display_name = "Plivo"
    credential_fields = (
        CredentialField("auth_id", "Auth ID", secret=False),
        CredentialField("auth_token", "Auth token"),
    )
    # Plivo's send has no idempotency key and no lookup by a reference of ours.
    supports_idempotency = False
    supports_lookup = False
    reports_delivery = True

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        auth_id = _http.credential(account, "auth_id")
        body = {
            "src": message.from_number.lstrip("+"),
            "dst": message.to_number.lstrip("+"),
            "text": message.body,
            "type": "sms",
        }
        if message.status_callback_url:
            body["url"] = message.status_callback_url
            body["method"] = "POST"
        response = _http.send_request(
            client,
            "POST",
            f"{account.base_url(API_BASE)}/v1/Account/{auth_id}/Message/",
            json=body,
            auth=(auth_id, _http.credential(account, "auth_token")),
            timeout=_http.timeout_for(account.options),
        )
        answer = _http.json_dict(response)
        if response.status_code in (200, 202):
            uuids = answer.get("message_uuid")
            if not isinstance(uuids, list) or not uuids:
                raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", "accepted without a message_uuid")
            return SendResult(
                provider_message_id=str(uuids[0]),
                status=status.QUEUED,
                provider_status=str(answer.get("message") or "queued"),
            )
        # Plivo's send errors carry only text (``{"api_id", "error"}``); the HTTP status is the code.
        text = str(answer.get("error") or response.text[:200])
        code = str(response.status_code)
        _http.raise_for_busy(response, code, text)
        _http.raise_for_auth(response, code, text)
        if response.status_code == 404:  # no such account (wrong Auth ID)
            raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, code, text)
        if response.status_code == 400:
            raise PermanentProviderError(failures.INVALID_SENDING_PARAMETERS, code, text)
        raise PermanentProviderError(failures.UNKNOWN, code, text)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult | None:
        return None

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        token = account.credentials.get("auth_token", "")
        if not token:
            raise WebhookRejected(403, "no auth token configured for this Plivo account")
        v3 = request.header(V3_HEADER)
        if v3:
            nonce = request.header(V3_NONCE_HEADER)
            if not nonce:
                raise WebhookRejected(403, f"{V3_HEADER} without {V3_NONCE_HEADER}")
            expected = signature_v3(request.url, _body_params(request), nonce, token, request.method)
            if not _matches(v3, expected):
                raise WebhookRejected(403, "V3 signature does not match")
            return
        if str(account.options.get("signature_version") or "v3") == "v2" and request.header(V2_HEADER):
            nonce = request.header(V2_NONCE_HEADER)
            if not nonce or not _matches(request.header(V2_HEADER), signature_v2(request.url, nonce, token)):
                raise WebhookRejected(403, "V2 signature does not match")
            return
        raise WebhookRejected(403, f"unsigned webhook: no {V3_HEADER} header")

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        params = _webhooks.webhook_params(request)
        _webhooks.require(params, "From", "To", "MessageUUID")
        intent = params.get("MessageIntent", "").strip().lower()
        if intent not in INTENT_MAP:
            raise WebhookRejected(400, f"unknown MessageIntent {intent!r}")
        return ParsedWebhook(
            inbound=[
                InboundSMS(
                    provider_message_id=params["MessageUUID"],
                    from_number=_webhooks.e164(params["From"]),  # international digits without "+"
                    to_number=_webhooks.e164(params["To"]),
                    body=params.get("Text", ""),
                    segments=_webhooks.to_int(params.get("Units")),
                    opt_signal=INTENT_MAP[intent],
                )
            ]
        )

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        params = _webhooks.webhook_params(request)
        _webhooks.require(params, "MessageUUID", "Status")
        provider_status = params["Status"]
        neutral = STATUS_MAP.get(provider_status)
        code = params.get("ErrorCode", "").strip()
        code = "" if code in ("", "000", "0") else code
        reason, permanent, opt_out = "", False, False
        if code or neutral in (status.FAILED, status.UNDELIVERED):
            meaning = ERROR_MAP.get(code, ErrorMeaning(failures.UNKNOWN, permanent=False))
            reason, permanent, opt_out = meaning.reason, meaning.permanent, meaning.opt_out
        return ParsedWebhook(
            statuses=[
                StatusReport(
                    provider_message_id=params["MessageUUID"],
                    provider_status=provider_status,
                    status=neutral,
                    error_code=code,
                    failure_reason=reason,
                    permanent=permanent,
                    opt_out=opt_out,
                )
            ]
        )


PROVIDER = PlivoProvider()
