"""Vonage: the SMS API (``/sms/json``, DLRs, signed ``sig`` webhooks) and the Messages API (``/v1/messages``,
JWT-signed JSON webhooks). ``options["api"]`` picks one: ``"sms"`` (default) or ``"messages"``.

Options: ``api``; ``signature_method`` for the SMS API (``md5hash`` — the dashboard default —, ``md5``,
``sha1``, ``sha256``, ``sha512``: the last four are HMACs); ``signature_window`` (seconds, default 300);
``base_url``; ``timeout``.

A long SMS API message is split by Vonage into parts, each with its own message-id and its own delivery
receipt: ``send`` returns the first part's id as ``provider_message_id`` and every part's id, in order, as
``SendResult.part_ids``, and each receipt echoes our ``client-ref`` (``StatusReport.client_reference``).

Known limits: neither API honours an idempotency key, and the SMS API cannot look a message up by our
``client-ref``, so an interrupted send cannot be made safe (``supports_idempotency``/``supports_lookup``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import replace

import httpx
import jwt
import jwt.warnings

from textdesk.domain import failures, status
from textdesk.providers import _http, _webhooks
from textdesk.providers._http import ErrorMeaning
from textdesk.providers.base import (
    AccountConfig,
    ConcatPart,
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

SMS_API_BASE = "https://rest.nexmo.com"
MESSAGES_API_BASE = "https://api.nexmo.com"
SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
DEFAULT_WINDOW = 300

# ---------------------------------------------------------------- maps

# SMS API delivery receipt ``status``.
STATUS_MAP: dict[str, str | None] = {
    "accepted": status.SENT,
    "buffered": status.SENT,
    "delivered": status.DELIVERED,
    "expired": status.UNDELIVERED,
    "failed": status.UNDELIVERED,
    "deleted": status.UNDELIVERED,
    "rejected": status.FAILED,
    "unknown": None,  # carries no news
}

# Messages API status webhook ``status``.
MESSAGES_STATUS_MAP: dict[str, str | None] = {
    "submitted": status.SENT,
    "delivered": status.DELIVERED,
    "read": status.DELIVERED,
    "rejected": status.FAILED,
    "undeliverable": status.FAILED,
}

# SMS API delivery receipt ``err-code`` (non-zero = failure). 9 is how Vonage reports an opted-out recipient.
ERROR_MAP: dict[str, ErrorMeaning] = {
    "1": ErrorMeaning(failures.UNKNOWN, permanent=False),
    "2": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # absent subscriber, temporary
    "3": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=True),  # absent subscriber, permanent
    "4": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=True),  # barred by the user
    "5": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # portability error
    "6": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # anti-spam rejection
    "7": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # handset busy
    "8": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # network error
    "9": ErrorMeaning(failures.RECIPIENT_OPTED_OUT, permanent=True, opt_out=True),  # illegal number = opted out
    "10": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # illegal message
    "11": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=True),  # unroutable
    "12": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # destination unreachable
    "13": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # subscriber age restriction
    "14": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # blocked by carrier
    "15": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # prepaid, insufficient funds
    "99": ErrorMeaning(failures.UNKNOWN, permanent=False),  # general error
}

# SMS API submit ``status`` (the HTTP answer is always 200; each part carries its own status).
SUBMIT_ERROR_MAP: dict[str, ErrorMeaning] = {
    "1": ErrorMeaning(failures.RATE_LIMITED, permanent=False),  # throttled
    "2": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # missing parameters
    "3": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid parameters
    "4": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # invalid credentials
    "5": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),  # internal error
    "6": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid message (e.g. prefix)
    "7": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # number barred (block-listed)
    # Account suspended / out of credit / not provisioned: only the administrator can fix the account.
    "8": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),
    "9": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # quota (credit), not an opt-out
    "10": ErrorMeaning(failures.RATE_LIMITED, permanent=False),  # too many binds
    "11": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # account not enabled for HTTP
    "12": ErrorMeaning(failures.BODY_TOO_LONG, permanent=True),
    "14": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # invalid signature
    "15": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # illegal sender address
    "16": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid TTL
    "19": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),  # facility not allowed
    "20": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid message class
    "23": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # bad callback URL
    "29": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # destination not allow-listed
    "34": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid or missing msisdn
}

# Messages API error codes (in an RFC 7807 body's ``title`` or the ``#fragment`` of its ``type``).
# The SMS opt-out code of the Messages API is not stated clearly in the documentation; an unmapped code
# in a ``rejected`` status still marks the message failed, with an unknown reason.
MESSAGES_ERROR_MAP: dict[str, ErrorMeaning] = {
    "1000": ErrorMeaning(failures.RATE_LIMITED, permanent=False),
    "1010": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1020": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1021": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1022": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1030": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),
    "1040": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1050": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    "1060": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),
    "1070": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),
    "1080": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),
    "1090": ErrorMeaning(failures.BODY_TOO_LONG, permanent=True),
    "1100": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),
    "1120": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1130": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1140": ErrorMeaning(failures.PROVIDER_AUTH_FAILED, permanent=True),
    "1150": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "1160": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
}

# ---------------------------------------------------------------- signing (also used by the simulator)


def _sms_signature_base(params: Mapping[str, object]) -> str:
    """``&k1=v1&k2=v2…`` over the sorted parameters except ``sig``; ``&`` and ``=`` in values become ``_``.

    Non-string values are formatted as Python does (the official SDK's behaviour for JSON webhooks).
    """
    parts = []
    for key in sorted(params):
        if key == "sig":
            continue
        value = params[key]
        if isinstance(value, str):
            value = value.replace("&", "_").replace("=", "_")
        parts.append(f"&{key}={value}")
    return "".join(parts)


def sms_signature(params: Mapping[str, object], secret: str, method: str = "md5hash") -> str:
    """Lower-case hex signature of SMS API parameters (``md5hash`` = md5(base + secret); others = HMAC)."""
    base = _sms_signature_base(params)
    if method == "md5hash":
        return hashlib.md5((base + secret).encode("utf-8")).hexdigest()
    if method not in SIGNATURE_METHODS:
        raise ValueError(f"unknown Vonage signature method {method!r}")
    return hmac.new(secret.encode("utf-8"), base.encode("utf-8"), getattr(hashlib, method)).hexdigest()


def sign_sms_params(
    params: Mapping[str, object], secret: str, method: str = "md5hash", timestamp: int | None = None
) -> dict[str, object]:
    """A copy of ``params`` with ``timestamp`` (if absent) and ``sig`` added, as Vonage signs webhooks.

    Vonage writes the hex digest in upper case; so do we.
    """
    signed = dict(params)
    signed.setdefault("timestamp", str(int(time.time()) if timestamp is None else timestamp))
    signed["sig"] = sms_signature(signed, secret, method).upper()
    return signed


def sign_messages_webhook(body: bytes, secret: str, api_key: str = "", issued_at: int | None = None) -> str:
    """An ``Authorization`` header value as the Messages API sends it: HS256 JWT with ``payload_hash``."""
    claims = {
        "iat": int(time.time()) if issued_at is None else issued_at,
        "jti": str(uuid.uuid4()),
        "payload_hash": hashlib.sha256(body).hexdigest(),
    }
    if api_key:
        claims["api_key"] = api_key
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


# ---------------------------------------------------------------- the adapter


APIS = ("sms", "messages")


def _api(account: AccountConfig) -> str:
    return str(account.options.get("api") or "sms")


def _uses_messages_api(account: AccountConfig) -> bool:
    return _api(account) == "messages"


def international(number: object) -> str:
    """A number as Vonage writes it (international digits without ``+``, e.g. 5511987650001) in E.164.

    Vonage's documented format for ``msisdn``, ``from`` and ``to`` is always international, whatever the
    country, so the digits are never read as a national number. A sender name stays as it is."""
    return _webhooks.e164(number)


def _digits(number: str) -> str:
    """Vonage wants international numbers without ``+`` or ``00``."""
    return number.lstrip("+")


# GSM 03.38 basic set and extension table: text that fits needs no UCS-2; otherwise the SMS API must be
# told "unicode".
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)


def _vonage_time(value: str) -> dt.datetime | None:
    """``message-timestamp`` is ``YYYY-MM-DD HH:MM:SS`` in UTC; the Messages API uses ISO 8601."""
    if not value:
        return None
    for parse in (
        lambda v: dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S"),
        lambda v: dt.datetime.fromisoformat(v.replace("Z", "+00:00")),
    ):
        try:
            moment = parse(value)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


class VonageProvider:
    kind = "vonage"
    display_name = "Vonage"
    credential_fields = (
        CredentialField("api_key", "API key", secret=False),
        CredentialField("api_secret", "API secret"),
        CredentialField(
            "signature_secret",
            "Signature secret",
            help="Signs incoming webhooks (Dashboard → API settings). Required: unsigned webhooks are refused.",
        ),
    )
    # See the module notes: no idempotency key, no lookup by our client-ref.
    supports_idempotency = False
    supports_lookup = False
    reports_delivery = True

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        if _api(account) not in APIS:  # a misconfigured account: fail before anything leaves
            raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, "", f"unknown Vonage api {_api(account)!r}")
        if _uses_messages_api(account):
            return self._send_messages_api(account, message, client)
        return self._send_sms_api(account, message, client)

    def _send_sms_api(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        # The API reference puts api_key/api_secret in the form body (the v4 SDK sends a Basic header
        # instead; the API accepts both). We follow the reference.
        form = {
            "api_key": _http.credential(account, "api_key"),
            "api_secret": _http.credential(account, "api_secret"),
            "from": _digits(message.from_number),
            "to": _digits(message.to_number),
            "text": message.body,
            "type": "text" if is_gsm7(message.body) else "unicode",
        }
        if message.client_reference:
            form["client-ref"] = message.client_reference[:100]
        # The API limits ``callback`` to 100 characters; a longer URL falls back to the dashboard setting.
        if message.status_callback_url and len(message.status_callback_url) <= 100:
            form["callback"] = message.status_callback_url
            # A boolean in the reference, whose form encoding it leaves open; the official SDK sends "True".
            form["status-report-req"] = "True"
        response = _http.send_request(
            client,
            "POST",
            account.base_url(SMS_API_BASE) + "/sms/json",
            data=form,
            timeout=_http.timeout_for(account.options),
        )
        _http.raise_for_busy(response)
        _http.raise_for_auth(response)
        if response.status_code != 200:
            raise PermanentProviderError(failures.UNKNOWN, str(response.status_code), response.text[:200])
        parts = _http.json_dict(response).get("messages")
        if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
            # A 200 without a readable answer: the message may have been taken.
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", "unreadable SMS API answer")
        accepted = [p for p in parts if str(p.get("status")) == "0"]
        refused = [p for p in parts if str(p.get("status")) != "0"]
        if not refused:
            # One message-id per part, and later one delivery receipt per part: the messaging layer maps
            # every id in part_ids to this message so that each part's receipt finds it.
            part_ids = tuple(str(p.get("message-id") or "") for p in parts)
            if not all(part_ids):
                raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "0", "a part was accepted without a message-id")
            return SendResult(
                provider_message_id=part_ids[0],
                status=status.QUEUED,
                provider_status="0",
                segments=len(parts),
                part_ids=part_ids,
            )
        code = str(refused[0].get("status"))
        text = str(refused[0].get("error-text", ""))
        meaning = SUBMIT_ERROR_MAP.get(code, ErrorMeaning(failures.UNKNOWN, permanent=True))
        if accepted:
            # Some parts went out: a retry would send them twice, so the failure is final.
            raise PermanentProviderError(meaning.reason, code, f"{text} ({len(accepted)} of {len(parts)} parts sent)")
        raise meaning.error(code, text)

    def _send_messages_api(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        body = {
            "message_type": "text",
            "channel": "sms",
            "to": _digits(message.to_number),
            "from": _digits(message.from_number),
            "text": message.body,
        }
        if message.client_reference:
            body["client_ref"] = message.client_reference[:100]
        if message.status_callback_url:
            body["webhook_url"] = message.status_callback_url
        response = _http.send_request(
            client,
            "POST",
            account.base_url(MESSAGES_API_BASE) + "/v1/messages",
            json=body,
            auth=(_http.credential(account, "api_key"), _http.credential(account, "api_secret")),
            timeout=_http.timeout_for(account.options),
        )
        if response.status_code in (200, 202):
            uuid = _http.json_dict(response).get("message_uuid")
            if not uuid:
                raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", "accepted without a message_uuid")
            return SendResult(
                provider_message_id=str(uuid), status=status.QUEUED, provider_status=str(response.status_code)
            )
        problem = _http.json_dict(response)
        code = _messages_error_code(problem)
        text = str(problem.get("detail") or problem.get("title") or "")
        _http.raise_for_busy(response, code, text)
        if code in MESSAGES_ERROR_MAP:
            raise MESSAGES_ERROR_MAP[code].error(code, text)
        _http.raise_for_auth(response, code, text)
        if response.status_code == 402:  # low balance
            raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, code or "402", text)
        if response.status_code in (400, 422):
            raise PermanentProviderError(failures.INVALID_SENDING_PARAMETERS, code or str(response.status_code), text)
        raise PermanentProviderError(failures.UNKNOWN, code or str(response.status_code), text)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult | None:
        return None

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        secret = account.credentials.get("signature_secret", "")
        if not secret:
            raise WebhookRejected(403, "no signature secret configured for this Vonage account")
        if _api(account) not in APIS:
            raise WebhookRejected(403, f"unknown Vonage api {_api(account)!r} configured for this account")
        window = _webhooks.signature_window(account.options, DEFAULT_WINDOW)
        if _uses_messages_api(account):
            self._verify_jwt(account, request, secret, now, window)
        else:
            self._verify_sig(account, request, secret, now, window)

    def _verify_sig(self, account, request: WebhookRequest, secret: str, now: dt.datetime, window: int) -> None:
        params = _raw_params(request)
        given = str(params.get("sig") or "")
        if not given:
            raise WebhookRejected(403, "unsigned webhook: no sig parameter")
        if not params.get("timestamp"):
            raise WebhookRejected(403, "signed webhook without a timestamp")
        method = str(account.options.get("signature_method") or "md5hash")
        if method not in SIGNATURE_METHODS:
            raise WebhookRejected(403, f"unsupported signature method {method!r}")
        expected = sms_signature(params, secret, method)
        if not _webhooks.same_secret(given.lower(), expected):
            raise WebhookRejected(403, "signature does not match")
        # Checked after the signature so a forged timestamp cannot be told apart from a stale one.
        _webhooks.check_timestamp_window(str(params["timestamp"]), now, window)

    def _verify_jwt(self, account, request: WebhookRequest, secret: str, now: dt.datetime, window: int) -> None:
        authorization = request.header("authorization")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            # Vonage documents rare unsigned callbacks after internal errors; they are refused like any other.
            raise WebhookRejected(401, "unsigned webhook: no Authorization bearer token")
        try:
            with warnings.catch_warnings():
                # The secret is the one Vonage issued; PyJWT's advice on key length cannot be acted upon here.
                warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
                claims = jwt.decode(
                    token.strip(),
                    secret,
                    algorithms=["HS256"],
                    options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
                )
        except jwt.InvalidSignatureError:
            raise WebhookRejected(403, "JWT signature does not match") from None
        except jwt.PyJWTError as exc:
            raise WebhookRejected(403, f"malformed JWT: {exc}") from None
        payload_hash = claims.get("payload_hash")
        if payload_hash is not None and not _webhooks.same_secret(
            str(payload_hash), hashlib.sha256(request.body).hexdigest()
        ):
            raise WebhookRejected(403, "payload_hash does not match the body")
        api_key = account.credentials.get("api_key")
        if claims.get("api_key") and api_key and claims["api_key"] != api_key:
            raise WebhookRejected(403, "JWT is for another API key")
        if "iat" not in claims:
            raise WebhookRejected(403, "JWT without iat")
        _webhooks.check_timestamp_window(str(claims["iat"]), now, window)
        if "exp" in claims and _webhooks.to_int(claims["exp"]) is not None and int(claims["exp"]) < now.timestamp():
            raise WebhookRejected(403, "JWT expired")

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        if _uses_messages_api(account):
            data = _webhooks.json_object(request.body)
            _webhooks.require(data, "message_uuid", "from", "to")
            sms = data.get("sms")
            sms = sms if isinstance(sms, dict) else {}
            return ParsedWebhook(
                inbound=[
                    InboundSMS(
                        provider_message_id=str(data["message_uuid"]),
                        from_number=international(data["from"]),
                        to_number=international(data["to"]),
                        body=str(data.get("text") or ""),
                        segments=_webhooks.to_int(sms.get("num_messages")),
                        received_at=_vonage_time(str(data.get("timestamp") or "")),
                    )
                ]
            )
        params = _webhooks.webhook_params(request, allow_json=True)
        _webhooks.require(params, "msisdn", "to", "messageId")
        concat = None
        if params.get("concat") == "true":
            reference = params.get("concat-ref", "")
            total = _webhooks.to_int(params.get("concat-total"))
            number = _webhooks.to_int(params.get("concat-part"))
            if not reference or not total or not number or not 1 <= number <= total:
                raise WebhookRejected(400, "inconsistent concat-ref / concat-total / concat-part")
            concat = ConcatPart(reference=reference, total=total, number=number)
        return ParsedWebhook(
            inbound=[
                InboundSMS(
                    provider_message_id=params["messageId"],
                    from_number=international(params["msisdn"]),
                    to_number=international(params["to"]),
                    body=params.get("text", ""),
                    segments=1 if concat else None,
                    concat=concat,
                    received_at=_vonage_time(params.get("message-timestamp", "")),
                )
            ]
        )

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        if _uses_messages_api(account):
            return ParsedWebhook(statuses=[_messages_status(_webhooks.json_object(request.body))])
        params = _webhooks.webhook_params(request, allow_json=True)
        _webhooks.require(params, "messageId", "status")
        provider_status = params["status"]
        error_code = params.get("err-code", "")
        report = StatusReport(
            provider_message_id=params["messageId"],
            provider_status=provider_status,
            status=STATUS_MAP.get(provider_status),
            error_code="" if error_code in ("", "0") else error_code,
            occurred_at=_vonage_time(params.get("message-timestamp", "")),
            client_reference=params.get("client-ref", ""),
        )
        if report.error_code:
            meaning = ERROR_MAP.get(error_code, ErrorMeaning(failures.UNKNOWN, permanent=False))
            report = _with_failure(report, meaning)
        return ParsedWebhook(statuses=[report])


def _with_failure(report: StatusReport, meaning: ErrorMeaning, text: str = "") -> StatusReport:
    return replace(
        report, failure_reason=meaning.reason, permanent=meaning.permanent, opt_out=meaning.opt_out, error_text=text
    )


def _messages_error_code(error: Mapping[str, object]) -> str:
    title = str(error.get("title") or "")
    if title.isdigit():
        return title
    fragment = str(error.get("type") or "").rpartition("#")[2]
    return fragment if fragment.isdigit() else ""


def _messages_status(data: dict) -> StatusReport:
    _webhooks.require(data, "message_uuid", "status")
    provider_status = str(data["status"])
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    code = _messages_error_code(error) if error else ""
    report = StatusReport(
        provider_message_id=str(data["message_uuid"]),
        provider_status=provider_status,
        status=MESSAGES_STATUS_MAP.get(provider_status),
        error_code=code,
        occurred_at=_vonage_time(str(data.get("timestamp") or "")),
        client_reference=str(data.get("client_ref") or ""),
    )
    if error:
        meaning = MESSAGES_ERROR_MAP.get(code, ErrorMeaning(failures.UNKNOWN, permanent=False))
        report = _with_failure(report, meaning, str(error.get("detail") or ""))
    return report


def _raw_params(request: WebhookRequest) -> dict[str, object]:
    """Parameters with their JSON types kept, since the signature formats non-strings differently."""
    if request.method.upper() != "GET" and request.content_type == "application/json":
        return dict(_webhooks.json_object(request.body))
    return dict(_webhooks.webhook_params(request))


PROVIDER = VonageProvider()
