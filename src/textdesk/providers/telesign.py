"""Telesign SMS (Messaging API).

Send: ``POST {base}/v1/messaging`` as a form (``phone_number``, ``message``, ``message_type``, ``sender_id``,
``external_id``) with Basic ``customer_id:api_key``. The answer carries ``reference_id`` and a numeric
``status.code`` (290 = in progress); errors carry ``errors[].code`` (negative five-digit codes). Telesign asks
integrators to code against these codes, not the HTTP status.

Callbacks (delivery reports and inbound ``mo_sms`` messages) all go to the one Transaction Callback URL, so both
parse functions read either kind. Telesign signs every callback: ``Authorization: TSA <customer id>:<signature>``
(also sent as ``X-TS-Authorization``) where the signature is base64(HMAC-SHA256(base64decode(api key), raw body)).
Only the body is signed: there is no timestamp, so staleness cannot be checked.

Unclear in the documentation: the inbound schema is given as prose (``user_response`` holding ``phone_number``,
``mo_message`` and ``sender_id``); we read exactly those fields and refuse a body without them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac

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
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
)

# The self-service REST endpoint; enterprise accounts use https://rest-ww.telesign.com (set the base URL option).
DEFAULT_BASE_URL = "https://rest-api.telesign.com"

# SMS status codes (status.code in answers and callbacks).
STATUS_MAP: dict[str, str | None] = {
    "290": status.QUEUED,  # message in progress
    "203": status.SENT,  # delivered to gateway (intermediate)
    "200": status.DELIVERED,  # delivered to handset
    "207": status.UNDELIVERED,  # error delivering to handset, reason unknown
    "210": status.UNDELIVERED,  # temporary phone error
    "211": status.UNDELIVERED,  # permanent phone error
    "220": status.UNDELIVERED,  # gateway/network cannot route message
    "221": status.UNDELIVERED,  # expired before delivery
    "222": status.UNDELIVERED,  # SMS not supported by phone, carrier, plan or user
    "229": status.FAILED,  # blocked by your request (your block list, possibly kept by Telesign for you)
    "230": status.FAILED,  # blocked by Telesign (global block list)
    "231": status.FAILED,  # invalid/unsupported content
    "233": status.FAILED,  # blocked due to a high risk score
    "237": status.FAILED,  # blocked in requested country
    "238": status.FAILED,  # destination blocked by prefix
    "250": status.SENT,  # final status unknown
    "251": status.SENT,  # sent out for delivery, no handset confirmation
}

# Status codes of failures and API error codes → (reason, permanent).
ERROR_MAP: dict[str, tuple[str, bool]] = {
    "207": (failures.UNREACHABLE_DESTINATION, False),
    "210": (failures.UNREACHABLE_DESTINATION, False),
    "211": (failures.UNREACHABLE_DESTINATION, True),
    "220": (failures.UNREACHABLE_DESTINATION, False),
    "221": (failures.EXPIRED, False),
    "222": (failures.LANDLINE, True),
    # Block lists of the account: Telesign keeps opt-outs there on the customer's behalf. Not a STOP we saw.
    "229": (failures.RECIPIENT_OPTED_OUT, True),
    "230": (failures.CARRIER_FILTERED, True),
    "231": (failures.CARRIER_FILTERED, True),
    "233": (failures.CARRIER_FILTERED, True),
    "237": (failures.INVALID_SENDING_PARAMETERS, True),
    "238": (failures.INVALID_SENDING_PARAMETERS, True),
    # API errors (errors[].code)
    "-10001": (failures.INVALID_SENDING_PARAMETERS, True),  # invalid request (e.g. phone_number)
    "-10009": (failures.PROVIDER_AUTH_FAILED, True),  # invalid source IP
    "-10033": (failures.INVALID_SENDING_PARAMETERS, True),  # number not verified for a trial account
    "-20002": (failures.PROVIDER_AUTH_FAILED, True),  # product not enabled
    "-30000": (failures.PROVIDER_AUTH_FAILED, True),  # invalid customer id
    "-30001": (failures.PROVIDER_AUTH_FAILED, True),  # account suspended
    "-30004": (failures.PROVIDER_AUTH_FAILED, True),  # missing Authorization
    "-30005": (failures.PROVIDER_AUTH_FAILED, True),  # malformed Authorization
    "-30006": (failures.PROVIDER_AUTH_FAILED, True),  # invalid signature
    "-30015": (failures.PROVIDER_AUTH_FAILED, True),  # invalid API key
    "-40006": (failures.INVALID_SENDING_PARAMETERS, True),  # bad request
    "-90001": (failures.PROVIDER_UNAVAILABLE, False),  # system unavailable
}


def sign_callback(api_key: str, body: bytes) -> str:
    """The signature part of a callback's ``Authorization: TSA <customer id>:<signature>``."""
    key = base64.b64decode(api_key)
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def callback_authorization(customer_id: str, api_key: str, body: bytes) -> str:
    return f"TSA {customer_id}:{sign_callback(api_key, body)}"


def _code(value: object) -> str:
    return str(value).strip() if value is not None else ""


class TelesignProvider:
    kind = "telesign"
    display_name = "Telesign"
    credential_fields = (
        CredentialField("customer_id", _("Customer ID"), secret=False),
        CredentialField("api_key", _("API key"), help=_("Base64, as shown in the Telesign portal.")),
    )
    supports_idempotency = False
    supports_lookup = False  # status lookup needs Telesign's reference_id, which a crash loses
    reports_delivery = True

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        form = {
            "phone_number": _http.without_plus(message.to_number),
            "message": message.body,
            "message_type": str(account.options.get("message_type") or "ARN"),
            "external_id": message.client_reference or message.idempotency_key,
        }
        if message.from_number:
            form["sender_id"] = _http.without_plus(message.from_number)
        response = _http.send_request(
            client,
            "POST",
            f"{account.base_url(DEFAULT_BASE_URL)}/v1/messaging",
            data=form,
            auth=(account.credentials.get("customer_id", ""), account.credentials.get("api_key", "")),
            headers={"Accept": "application/json"},
        )
        data = _http.json_or_empty(response)
        data = data if isinstance(data, dict) else {}
        errors = data.get("errors") if isinstance(data.get("errors"), list) else []
        first_error = errors[0] if errors and isinstance(errors[0], dict) else {}
        if response.status_code >= 300:
            code = _code(first_error.get("code")) or str(response.status_code)
            text = str(first_error.get("description") or "")
            if response.status_code != 429 and code in ERROR_MAP:
                reason, permanent = ERROR_MAP[code]
                raise _http.refusal(reason, permanent, code, text, retry_after=_http.retry_after(response))
            _http.raise_for_transport_status(response, code, text)
            raise PermanentProviderError(failures.INVALID_SENDING_PARAMETERS, code, text)
        reference_id = str(data.get("reference_id") or "")
        status_obj = data.get("status")
        status_obj = status_obj if isinstance(status_obj, dict) else {}
        code = _code(status_obj.get("code"))
        if not reference_id:
            raise OutcomeUnknownError(
                failures.OUTCOME_UNKNOWN, code or str(response.status_code), "answer without reference_id"
            )
        neutral = STATUS_MAP.get(code)
        if neutral in (status.FAILED, status.UNDELIVERED):
            reason, permanent = ERROR_MAP.get(code, (failures.UNKNOWN, True))
            raise _http.refusal(reason, permanent, code, str(status_obj.get("description") or ""))
        return SendResult(provider_message_id=reference_id, status=neutral or status.QUEUED, provider_status=code)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client) -> SendResult | None:
        return None

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        header = request.header("authorization") or request.header("x-ts-authorization")
        if not header:
            raise WebhookRejected(401, "missing Authorization header")
        scheme, _, credentials = header.strip().partition(" ")
        customer_id, sep, signature = credentials.strip().rpartition(":")
        if scheme.upper() != "TSA" or not sep or not signature:
            raise WebhookRejected(401, "Authorization is not 'TSA <customer id>:<signature>'")
        expected_customer = account.credentials.get("customer_id", "")
        if customer_id.lower() != expected_customer.lower():
            raise WebhookRejected(403, "callback is for another customer id")
        try:
            expected = sign_callback(account.credentials.get("api_key", ""), request.body)
        except (binascii.Error, ValueError):
            raise WebhookRejected(403, "API key is not base64; cannot check the signature") from None
        if not _webhooks.same_secret(signature, expected):
            raise WebhookRejected(403, "signature does not match the body")

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return _parse_callback(request)

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return _parse_callback(request)


def _parse_callback(request: WebhookRequest) -> ParsedWebhook:
    data = _webhooks.json_value(request.body)
    if not isinstance(data, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    reference_id = str(data.get("reference_id") or "")
    if not reference_id:
        raise WebhookRejected(400, "callback without reference_id")
    if data.get("sub_resource") == "mo_sms" or "user_response" in data:
        reply = data.get("user_response")
        if not isinstance(reply, dict) or not reply.get("phone_number") or not reply.get("sender_id"):
            raise WebhookRejected(400, "inbound message lacks user_response.phone_number or sender_id")
        return ParsedWebhook(
            inbound=[
                InboundSMS(
                    provider_message_id=reference_id,
                    from_number=_webhooks.e164(reply["phone_number"]),
                    to_number=_webhooks.e164(reply["sender_id"]),
                    body=str(reply.get("mo_message") or ""),
                    received_at=_webhooks.parse_timestamp(data.get("submit_timestamp")),
                )
            ]
        )
    status_obj = data.get("status")
    if not isinstance(status_obj, dict) or status_obj.get("code") is None:
        raise WebhookRejected(400, "callback without status.code")
    code = _code(status_obj["code"])
    neutral = STATUS_MAP.get(code)  # an undocumented code carries no news
    reason, permanent = "", False
    if neutral in (status.UNDELIVERED, status.FAILED):
        reason, permanent = ERROR_MAP.get(code, (failures.UNKNOWN, False))
    return ParsedWebhook(
        statuses=[
            StatusReport(
                provider_message_id=reference_id,
                provider_status=code,
                status=neutral,
                error_code=code if reason else "",
                error_text=str(status_obj.get("description") or "") if reason else "",
                failure_reason=reason,
                permanent=permanent,
                occurred_at=_webhooks.parse_timestamp(status_obj.get("updated_on")),
                client_reference=str(data.get("external_id") or ""),
            )
        ]
    )


PROVIDER = TelesignProvider()
