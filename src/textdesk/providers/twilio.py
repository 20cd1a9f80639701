"""Twilio Programmable Messaging: send over the 2010-04-01 REST API, read and verify its webhooks.

Everything Twilio-specific (field names, status values, error codes, the signature scheme) stays here;
the rest of TextDesk only sees the neutral types of ``providers.base``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.utils.translation import gettext_lazy as _

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
    WebhookResponse,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'

# Twilio's MessageStatus values → neutral status. ``partially_delivered`` is not defined for SMS by Twilio;
# we treat it as not delivered (the customer did not get the whole message).
STATUS_MAP: dict[str, str] = {
    "accepted": status.QUEUED,
    "scheduled": status.QUEUED,
    "queued": status.QUEUED,
    "sending": status.SENDING,
    "sent": status.SENT,
    "delivered": status.DELIVERED,
    "read": status.DELIVERED,
    "undelivered": status.UNDELIVERED,
    "partially_delivered": status.UNDELIVERED,
    "failed": status.FAILED,
    "canceled": status.FAILED,
    "receiving": status.RECEIVED,
    "received": status.RECEIVED,
}
FAILURE_STATUSES = frozenset({status.UNDELIVERED, status.FAILED})


# Twilio error codes (synchronous answers to a send, and ``ErrorCode`` in status callbacks) → neutral meaning.
ERROR_MAP: dict[int, ErrorMeaning] = {
    20003: ErrorMeaning(failures.PROVIDER_AUTH_FAILED, True),  # authentication failed
    20429: ErrorMeaning(failures.RATE_LIMITED, False),  # too many requests
    21211: ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, True),  # invalid 'To'
    21408: ErrorMeaning(failures.UNREACHABLE_DESTINATION, True),  # region not enabled for this account
    21602: ErrorMeaning(failures.EMPTY_BODY, True),  # body required
    21603: ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, True),  # 'From' required
    21606: ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, True),  # 'From' cannot send SMS
    21608: ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, True),  # trial account: 'To' not verified
    21610: ErrorMeaning(failures.RECIPIENT_OPTED_OUT, True, opt_out=True),  # recipient replied STOP
    21612: ErrorMeaning(failures.UNREACHABLE_DESTINATION, True),  # To/From pair cannot be routed
    21614: ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, True),  # 'To' is not a mobile number
    21617: ErrorMeaning(failures.BODY_TOO_LONG, True),  # body over 1600 characters
    21635: ErrorMeaning(failures.LANDLINE, True),  # 'To' is a landline
    30001: ErrorMeaning(failures.PROVIDER_UNAVAILABLE, False),  # queue overflow
    30002: ErrorMeaning(failures.PROVIDER_AUTH_FAILED, True),  # account suspended
    30003: ErrorMeaning(failures.UNREACHABLE_DESTINATION, False),  # handset off or out of coverage
    30004: ErrorMeaning(failures.UNREACHABLE_DESTINATION, True),  # message blocked for this destination
    30005: ErrorMeaning(failures.UNREACHABLE_DESTINATION, True),  # unknown destination handset
    30006: ErrorMeaning(failures.LANDLINE, True),  # landline or unreachable carrier
    30007: ErrorMeaning(failures.CARRIER_FILTERED, True),  # filtered as spam
    30008: ErrorMeaning(failures.UNKNOWN, False),  # unknown error
    30022: ErrorMeaning(failures.RATE_LIMITED, False),  # 10DLC throughput exceeded
    30032: ErrorMeaning(failures.NOT_REGISTERED, True),  # toll-free number not verified
    30034: ErrorMeaning(failures.NOT_REGISTERED, True),  # message from an unregistered 10DLC number
}

# Twilio's ``OptOutType`` on inbound messages → our opt signal.
OPT_OUT_TYPE_MAP = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}


def error_meaning(code: int | str | None) -> ErrorMeaning | None:
    try:
        return ERROR_MAP.get(int(code))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- signatures


def compute_signature(url: str, params: Mapping[str, Iterable[str]] | None, auth_token: str) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL followed by every name+value, sorted.

    ``params`` maps each name to its values (a form field may repeat); duplicate values count once.
    """
    payload = url
    for name in sorted(set(params or {})):
        for value in sorted(set(params[name])):  # type: ignore[index]
            payload += name + value
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """The URL as received, without its port, and with the scheme's default port.

    Twilio signs either form depending on the path a webhook takes inside Twilio, so both are accepted.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username or parts.password:
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@"
    else:
        userinfo = ""
    default_port = 443 if parts.scheme == "https" else 80
    without_port = urlunsplit(parts._replace(netloc=userinfo + host))
    if parts.port:
        return [url, without_port]
    with_port = urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default_port}"))
    return [url, with_port]


# ---------------------------------------------------------------- the adapter


def _first(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name) or [""]
    return values[0]


class TwilioProvider:
    kind = "twilio"
    display_name = "Twilio"
    credential_fields = (
        CredentialField("account_sid", _("Account SID"), secret=False, help=_("Starts with AC.")),
        CredentialField(
            "auth_token", _("Auth token"), secret=True, help=_("Also used to check the signature of Twilio's webhooks.")
        ),
    )
    # Twilio has no idempotency key on message creation, so a retry after a crash may send twice.
    supports_idempotency = False
    # Twilio can list messages only by To/From/date, never by a reference of ours, so a message we may have
    # sent before a crash cannot be found reliably (two identical texts to one customer would be confused).
    supports_lookup = False
    reports_delivery = True
    supports_status_fetch = True  # GET …/Messages/{sid}.json (see providers.base)

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        url, options = self._create_request(account, message)
        return self._read_created(_http.send_request(client, "POST", url, **options))

    async def send_async(self, account: AccountConfig, message: OutboundSMS, session) -> SendResult:
        """:meth:`send` over an ``aiohttp.ClientSession`` (the pipelined send path)."""
        url, options = self._create_request(account, message)
        return self._read_created(await _http.send_request_async(session, "POST", url, **options))

    def _create_request(self, account: AccountConfig, message: OutboundSMS) -> tuple[str, dict]:
        sid = account.credentials.get("account_sid", "")
        token = account.credentials.get("auth_token", "")
        url = f"{account.base_url(DEFAULT_BASE_URL)}/{API_VERSION}/Accounts/{sid}/Messages.json"
        form = {"To": message.to_number, "From": message.from_number, "Body": message.body}
        if message.status_callback_url:
            form["StatusCallback"] = message.status_callback_url
        return url, {"data": form, "auth": (sid, token), "headers": {"Accept": "application/json"}}

    def _read_created(self, response: _http.Answer) -> SendResult:
        if response.status_code in (200, 201):
            return self._parse_created(response)
        self._raise_refusal(response)

    def _parse_created(self, response: _http.Answer) -> SendResult:
        try:
            data = response.json()
            message_sid = str(data["sid"])
        except (ValueError, KeyError, TypeError) as exc:
            # Twilio answered 2xx, so the message probably exists, but we cannot tell which one it is.
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", "unreadable answer to a send") from exc
        provider_status = str(data.get("status") or "queued")
        return SendResult(
            provider_message_id=message_sid,
            status=STATUS_MAP.get(provider_status, status.QUEUED),
            provider_status=provider_status,
            segments=_webhooks.to_int(data.get("num_segments")),
        )

    def _raise_refusal(self, response: _http.Answer) -> NoReturn:
        """A refused send: 429 and 5xx as ``_http`` reads them, then Twilio's own codes, then 401/403."""
        data = _http.json_dict(response)
        code = str(data.get("code") or "")
        text = str(data.get("message") or data.get("detail") or response.reason_phrase)
        _http.raise_for_busy(response, code, text)
        meaning = error_meaning(code)
        if meaning is not None:
            raise meaning.error(code, text, retry_after=_http.retry_after(response))
        _http.raise_for_auth(response, code, text)
        raise PermanentProviderError(failures.UNKNOWN, code or str(response.status_code), text)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult | None:
        return None  # see supports_lookup

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime | None = None) -> None:
        """Check ``X-Twilio-Signature`` (Twilio signs no timestamp, so there is no replay window to check)."""
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected(403, "missing X-Twilio-Signature header")
        token = account.credentials.get("auth_token", "")
        if not token:
            raise WebhookRejected(403, "the provider account has no auth token to check signatures with")
        query = _webhooks.query_fields(request.url)
        params: dict[str, list[str]] = {}
        if "bodySHA256" in query:
            # JSON (or other raw) bodies: the URL carries the body's hash and the signature covers the URL only.
            expected_hash = hashlib.sha256(request.body).hexdigest()
            if not _webhooks.same_secret(query["bodySHA256"][0], expected_hash):
                raise WebhookRejected(403, "bodySHA256 does not match the request body")
        elif request.method.upper() == "POST" and request.content_type in ("application/x-www-form-urlencoded", ""):
            params = _webhooks.form_fields(request.body)
        for url in _url_variants(request.url):
            if _webhooks.same_secret(signature, compute_signature(url, params, token)):
                return
        raise WebhookRejected(403, "X-Twilio-Signature does not match this URL and body")

    @staticmethod
    def _require(params: Mapping[str, list[str]], names: Iterable[str]) -> None:
        missing = [name for name in names if not _first(params, name).strip()]
        if missing:
            raise WebhookRejected(400, "missing " + ", ".join(missing))

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        params = _webhooks.sent_fields(request)
        self._require(params, ("MessageSid", "From", "To"))
        segments_text = _first(params, "NumSegments")
        try:
            segments = int(segments_text) if segments_text else None
        except ValueError:
            raise WebhookRejected(400, f"NumSegments is not a number: {segments_text!r}") from None
        inbound = InboundSMS(
            provider_message_id=_first(params, "MessageSid"),
            from_number=_first(params, "From"),
            to_number=_first(params, "To"),
            body=_first(params, "Body"),
            segments=segments,
            opt_signal=OPT_OUT_TYPE_MAP.get(_first(params, "OptOutType").upper()),
            received_at=request.received_at,
        )
        return ParsedWebhook(inbound=[inbound], response=WebhookResponse(200, "text/xml", EMPTY_TWIML))

    def fetch_status(
        self, account: AccountConfig, provider_message_id: str, client: httpx.Client
    ) -> StatusReport | None:
        """Twilio's Message resource as it stands now, read as a delivery report."""
        sid = account.credentials.get("account_sid", "")
        token = account.credentials.get("auth_token", "")
        url = f"{account.base_url(DEFAULT_BASE_URL)}/{API_VERSION}/Accounts/{sid}/Messages/{provider_message_id}.json"
        response = _http.send_request(client, "GET", url, auth=(sid, token), headers={"Accept": "application/json"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._raise_refusal(response)
        data = _http.json_dict(response)
        if not data.get("status"):
            return None
        return self._report(
            provider_message_id,
            str(data.get("status")),
            str(data.get("error_code") or ""),
            str(data.get("error_message") or ""),
            None,
        )

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        params = _webhooks.sent_fields(request)
        self._require(params, ("MessageSid", "MessageStatus"))
        report = self._report(
            _first(params, "MessageSid"),
            _first(params, "MessageStatus"),
            _first(params, "ErrorCode"),
            _first(params, "ErrorMessage"),
            request.received_at,
        )
        return ParsedWebhook(statuses=[report], response=WebhookResponse(204, "text/plain", b""))

    def _report(
        self, message_sid: str, provider_status: str, error_code: str, error_text: str, occurred_at
    ) -> StatusReport:
        """A status of Twilio's (from a callback or the Message resource) as a neutral report."""
        provider_status = provider_status.strip().lower()
        neutral = STATUS_MAP.get(provider_status)
        if neutral == status.RECEIVED:
            neutral = None  # a status callback about an inbound message carries no news for outbound tracking
        error_code = error_code.strip()
        failure_reason, permanent, opt_out = "", False, False
        meaning = error_meaning(error_code) if error_code else None
        if neutral in FAILURE_STATUSES:
            failure_reason = meaning.reason if meaning else failures.UNKNOWN
            permanent = meaning.permanent if meaning else True
        if meaning and meaning.opt_out:
            opt_out = True
        return StatusReport(
            provider_message_id=message_sid,
            provider_status=provider_status,
            status=neutral,
            error_code=error_code,
            error_text=error_text,
            failure_reason=failure_reason,
            permanent=permanent,
            opt_out=opt_out,
            occurred_at=occurred_at,
        )


def form_items(params: Mapping[str, str]) -> dict[str, list[str]]:
    """A flat form (one value per name) in the shape ``compute_signature`` takes."""
    return {name: [value] for name, value in params.items()}


PROVIDER = TwilioProvider()
