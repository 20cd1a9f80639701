"""MessageBird (legacy REST API, ``rest.messagebird.com``).

Send: ``POST {base}/messages`` (JSON) with ``Authorization: AccessKey <key>``: ``originator``, ``recipients``,
``body``, ``reference``, ``reportUrl``. Status reports are only sent when ``reference`` is set, and arrive as a
**GET** on ``reportUrl`` with ``id, reference, recipient, status, statusDatetime`` (plus ``statusReason`` and
``statusErrorCode``) in the query string.

Signature: header ``MessageBird-Signature-JWT``, a JWT signed with the account's signing key (HS256/384/512),
``iss=MessageBird``, ``nbf``/``exp`` required (1 s leeway), ``url_hash`` = sha256 hex of the full URL and
``payload_hash`` = sha256 hex of the body, present exactly when there is a body. This follows the official SDK's
``RequestValidator``; we check ``nbf``/``exp`` against the ``now`` we are given rather than the wall clock.

Unclear in the documentation: inbound messages on a virtual number are forwarded with the fields ``id``,
``originator``, ``recipient``, ``body`` (older pages say ``message``) and ``createdDatetime``, as query string,
form or JSON; we accept all three encodings and both body names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
import warnings

import httpx
import jwt
from django.utils.translation import gettext_lazy as _
from jwt.warnings import InsecureKeyLengthWarning

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
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
)

DEFAULT_BASE_URL = "https://rest.messagebird.com"
SIGNATURE_HEADER = "messagebird-signature-jwt"
ALGORITHMS = ("HS256", "HS384", "HS512")
LEEWAY_SECONDS = 1

STATUS_MAP: dict[str, str | None] = {
    "scheduled": status.QUEUED,
    "sent": status.SENT,
    "buffered": status.SENT,
    "delivered": status.DELIVERED,
    "expired": status.UNDELIVERED,
    "delivery_failed": status.UNDELIVERED,
}

# statusReason values of failed reports and API error codes (errors[].code) → (reason, permanent).
ERROR_MAP: dict[str, tuple[str, bool]] = {
    "expired": (failures.EXPIRED, False),
    "incorrect number": (failures.INVALID_SENDING_PARAMETERS, True),
    "unknown subscriber": (failures.UNREACHABLE_DESTINATION, True),
    "unavailable subscriber": (failures.UNREACHABLE_DESTINATION, False),
    "opted out": (failures.RECIPIENT_OPTED_OUT, True),
    "carrier rejected": (failures.CARRIER_FILTERED, True),
    "received network error": (failures.UNREACHABLE_DESTINATION, False),
    "capacity limit reached": (failures.RATE_LIMITED, False),
    "insufficient balance": (failures.PROVIDER_AUTH_FAILED, True),
    "generic delivery failure": (failures.UNREACHABLE_DESTINATION, False),
    "DLR not received": (failures.UNREACHABLE_DESTINATION, False),
    # API errors
    "2": (failures.PROVIDER_AUTH_FAILED, True),  # request not allowed (bad access key)
    "9": (failures.INVALID_SENDING_PARAMETERS, True),  # missing parameters
    "10": (failures.INVALID_SENDING_PARAMETERS, True),  # invalid parameters
    "20": (failures.INVALID_SENDING_PARAMETERS, True),  # not found
    "21": (failures.INVALID_SENDING_PARAMETERS, True),  # bad request
    "25": (failures.PROVIDER_AUTH_FAILED, True),  # not enough balance
    "98": (failures.PROVIDER_UNAVAILABLE, False),  # API not found
    "99": (failures.PROVIDER_UNAVAILABLE, False),  # internal error
}


def sign_request(
    signing_key: str, url: str, body: bytes, now: dt.datetime, *, ttl: int = 60, algorithm: str = "HS256"
) -> str:
    """A ``MessageBird-Signature-JWT`` value for a request (what MessageBird's servers produce)."""
    issued = int(now.timestamp())
    claims = {
        "iss": "MessageBird",
        "nbf": issued,
        "exp": issued + ttl,
        "jti": str(uuid.uuid4()),
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    return jwt.encode(claims, signing_key, algorithm=algorithm)


class MessageBirdProvider:
    kind = "messagebird"
    display_name = "MessageBird"
    credential_fields = (
        CredentialField("access_key", _("Access key (live)")),
        CredentialField(
            "signing_key", _("Signing key"), help=_("Developer settings → signing key; not the access key.")
        ),
    )
    supports_idempotency = False
    supports_lookup = False
    reports_delivery = True

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        payload: dict[str, object] = {
            "originator": _http.without_plus(message.from_number),
            "recipients": [_http.without_plus(message.to_number)],
            "body": message.body,
            # Without a reference MessageBird sends no status reports.
            "reference": message.client_reference or message.idempotency_key,
        }
        report_url = message.status_callback_url or account.status_url
        if report_url:
            payload["reportUrl"] = report_url
        response = _http.send_request(
            client,
            "POST",
            f"{account.base_url(DEFAULT_BASE_URL)}/messages",
            json=payload,
            headers={
                "Authorization": f"AccessKey {account.credentials.get('access_key', '')}",
                "Accept": "application/json",
            },
        )
        if response.status_code >= 300:
            self._raise_http_error(response)
        data = _http.answer_object(response)
        message_id = str(data.get("id") or "")
        if not message_id:
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, str(response.status_code), "answer without id")
        recipients = data.get("recipients")
        recipients = recipients if isinstance(recipients, dict) else {}
        items = recipients.get("items") if isinstance(recipients.get("items"), list) else []
        provider_status = str(items[0].get("status") or "") if items and isinstance(items[0], dict) else ""
        neutral = STATUS_MAP.get(provider_status) or status.QUEUED
        return SendResult(provider_message_id=message_id, status=neutral, provider_status=provider_status)

    @staticmethod
    def _raise_http_error(response: httpx.Response) -> None:
        data = _http.json_or_empty(response)
        errors = data.get("errors") if isinstance(data, dict) and isinstance(data.get("errors"), list) else []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        code = str(first.get("code") or response.status_code)
        text = str(first.get("description") or "")
        if response.status_code != 429 and code in ERROR_MAP:
            reason, permanent = ERROR_MAP[code]
            raise _http.refusal(reason, permanent, code, text)
        _http.raise_for_transport_status(response, code, text)
        raise PermanentProviderError(failures.INVALID_SENDING_PARAMETERS, code, text)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client) -> SendResult | None:
        return None

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        verify_signature(
            account.credentials.get("signing_key", ""), request.header(SIGNATURE_HEADER), request.url, request.body, now
        )

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        params = _webhooks.merged_params(request)
        if "status" in params and "reference" in params:
            return _parse_report(params)
        missing = [name for name in ("id", "originator", "recipient") if not params.get(name)]
        if missing:
            raise WebhookRejected(400, f"inbound message lacks {', '.join(missing)}")
        return ParsedWebhook(
            inbound=[
                InboundSMS(
                    provider_message_id=params["id"],
                    from_number=_webhooks.e164(params["originator"]),
                    to_number=_webhooks.e164(params["recipient"]),
                    body=params.get("body", params.get("message", "")),
                    received_at=_webhooks.parse_timestamp(params.get("createdDatetime")),
                )
            ]
        )

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return _parse_report(_webhooks.merged_params(request))


def verify_signature(signing_key: str, token: str, url: str, body: bytes, now: dt.datetime) -> dict:
    """Check a ``MessageBird-Signature-JWT``; raise WebhookRejected with the precise reason."""
    if not token:
        raise WebhookRejected(401, "missing MessageBird-Signature-JWT header")
    if not signing_key:
        raise WebhookRejected(401, "no signing key configured for this account")
    try:
        with warnings.catch_warnings():
            # MessageBird chooses the key (32 characters) and may sign with HS384/HS512: PyJWT's key-length
            # advice is not ours to act on.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                signing_key,
                algorithms=list(ALGORITHMS),
                issuer="MessageBird",
                options={
                    "require": ["iss", "nbf", "exp"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
    except jwt.InvalidSignatureError:
        raise WebhookRejected(403, "JWT signature does not match the signing key") from None
    except jwt.InvalidIssuerError:
        raise WebhookRejected(403, "JWT issuer is not MessageBird") from None
    except jwt.MissingRequiredClaimError as exc:
        raise WebhookRejected(403, f"JWT lacks the {exc.claim} claim") from None
    except jwt.InvalidAlgorithmError:
        raise WebhookRejected(403, "JWT algorithm not allowed") from None
    except jwt.InvalidTokenError as exc:
        raise WebhookRejected(401, f"malformed JWT: {exc}") from None
    moment = now.timestamp()
    try:
        not_before, expires = float(claims["nbf"]), float(claims["exp"])
    except (TypeError, ValueError):
        raise WebhookRejected(403, "JWT nbf/exp are not numbers") from None
    if moment + LEEWAY_SECONDS < not_before:
        raise WebhookRejected(401, "JWT not valid yet (nbf in the future)")
    if moment - LEEWAY_SECONDS >= expires:
        raise WebhookRejected(401, "JWT expired (stale request)")
    url_hash = str(claims.get("url_hash") or "")
    if not _webhooks.same_secret(url_hash, hashlib.sha256(url.encode()).hexdigest()):
        raise WebhookRejected(403, "url_hash does not match the requested URL")
    payload_hash = claims.get("payload_hash")
    if body and not payload_hash:
        raise WebhookRejected(403, "body present but JWT has no payload_hash")
    if not body and payload_hash:
        raise WebhookRejected(403, "JWT has payload_hash but the body is empty")
    if body and not _webhooks.same_secret(str(payload_hash), hashlib.sha256(body).hexdigest()):
        raise WebhookRejected(403, "payload_hash does not match the body")
    return claims


def _parse_report(params: dict[str, str]) -> ParsedWebhook:
    missing = [name for name in ("id", "status") if not params.get(name)]
    if missing:
        raise WebhookRejected(400, f"status report lacks {', '.join(missing)}")
    provider_status = params["status"]
    neutral = STATUS_MAP.get(provider_status)  # an undocumented value carries no news
    reason, permanent = "", False
    if neutral in (status.UNDELIVERED, status.FAILED):
        status_reason = params.get("statusReason", "")
        reason, permanent = (
            ERROR_MAP.get(status_reason) or ERROR_MAP.get(provider_status) or (failures.UNREACHABLE_DESTINATION, False)
        )
    return ParsedWebhook(
        statuses=[
            StatusReport(
                provider_message_id=params["id"],
                provider_status=provider_status,
                status=neutral,
                error_code=params.get("statusErrorCode", "") if reason else "",
                error_text=params.get("statusReason", "") if reason else "",
                failure_reason=reason,
                permanent=permanent,
                opt_out=reason == failures.RECIPIENT_OPTED_OUT,
                occurred_at=_webhooks.parse_timestamp(params.get("statusDatetime")),
                client_reference=params.get("reference", ""),
            )
        ]
    )


PROVIDER = MessageBirdProvider()
