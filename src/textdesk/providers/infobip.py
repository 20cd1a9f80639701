"""Infobip SMS.

Send: ``POST {base}/sms/2/text/advanced`` with ``Authorization: App <api key>`` (each account has its own API base
URL, ``https://<id>.api.infobip.com``). We set the destination's ``messageId`` ourselves (our idempotency key):
Infobip refuses a second message with the same id (status ``REJECTED_DUPLICATE_MESSAGE_ID``), and the message
logs (``GET /sms/1/logs?messageId=…``) find it again after a crash.

Webhooks: inbound messages (format ``MO_JSON_2``) and delivery reports are both ``{"results": [...]}`` JSON
bodies; a report carries ``status`` (groupName/name) and ``error`` (groupName/name/permanent) objects.

Webhook authenticity: Infobip does not sign these webhooks. The unguessable key in our URL protects them; when the
account has ``webhook_username``/``webhook_password`` credentials (Basic credentials set on Infobip's side of the
webhook), we also require them. There is no timestamp to check.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt

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
    SendResult,
    StatusReport,
    WebhookRejected,
    WebhookRequest,
)

DEFAULT_BASE_URL = "https://api.infobip.com"

# Status names (SMS "general status codes"), and the group names as a fallback for names we do not know.
# DELIVERED_TO_OPERATOR sits in the DELIVERED group but is not a handset delivery: only "sent".
STATUS_MAP: dict[str, str | None] = {
    # groups
    "ACCEPTED": status.QUEUED,
    "PENDING": status.SENT,
    "UNDELIVERABLE": status.UNDELIVERED,
    "DELIVERED": status.DELIVERED,
    "EXPIRED": status.UNDELIVERED,
    "REJECTED": status.FAILED,
    # PENDING group
    "PENDING_ACCEPTED": status.QUEUED,
    "PENDING_ENROUTE": status.SENT,
    "PENDING_WAITING_DELIVERY": status.SENT,
    # UNDELIVERABLE group
    "UNDELIVERABLE_REJECTED_OPERATOR": status.UNDELIVERED,
    "UNDELIVERABLE_NOT_DELIVERED": status.UNDELIVERED,
    "UNDELIVERABLE_NOT_SENT": status.FAILED,
    # DELIVERED group
    "DELIVERED_TO_OPERATOR": status.SENT,
    "DELIVERED_TO_HANDSET": status.DELIVERED,
    # EXPIRED group
    "EXPIRED_EXPIRED": status.UNDELIVERED,
    "EXPIRED_DLR_UNKNOWN": status.SENT,  # sent, no delivery report ever came: no better knowledge than "sent"
    "SIGNALS_BLOCKED": status.FAILED,
    # REJECTED group
    "REJECTED_NETWORK": status.FAILED,
    "REJECTED_PREFIX_MISSING": status.FAILED,
    "REJECTED_DND": status.FAILED,
    "REJECTED_SOURCE": status.FAILED,
    "REJECTED_NOT_ENOUGH_CREDITS": status.FAILED,
    "REJECTED_SENDER": status.FAILED,
    "REJECTED_DESTINATION_BLOCKLISTED": status.FAILED,
    "REJECTED_PREPAID_PACKAGE_EXPIRED": status.FAILED,
    "REJECTED_DESTINATION_NOT_REGISTERED": status.FAILED,
    "REJECTED_ROUTE_NOT_AVAILABLE": status.FAILED,
    "REJECTED_FLOODING_FILTER": status.FAILED,
    "REJECTED_SYSTEM_ERROR": status.FAILED,
    "REJECTED_DUPLICATE_MESSAGE_ID": status.FAILED,
    "REJECTED_INVALID_UDH": status.FAILED,
    "REJECTED_MESSAGE_TOO_LONG": status.FAILED,
    "MISSING_TO": status.FAILED,
    "REJECTED_DESTINATION": status.FAILED,
    "UNDELIVERABLE_REJECTED_PLATFORM": status.FAILED,
}

# Status names, error names (DLR ``error.name``) and API exception ids → (reason, permanent).
ERROR_MAP: dict[str, tuple[str, bool]] = {
    # rejected / undeliverable / expired statuses
    "UNDELIVERABLE_REJECTED_OPERATOR": (failures.CARRIER_FILTERED, True),
    "UNDELIVERABLE_NOT_DELIVERED": (failures.UNREACHABLE_DESTINATION, False),
    "UNDELIVERABLE_NOT_SENT": (failures.UNREACHABLE_DESTINATION, False),
    "EXPIRED_EXPIRED": (failures.EXPIRED, False),
    "SIGNALS_BLOCKED": (failures.CARRIER_FILTERED, True),
    "REJECTED_NETWORK": (failures.UNREACHABLE_DESTINATION, True),
    "REJECTED_PREFIX_MISSING": (failures.INVALID_SENDING_PARAMETERS, True),
    # DND registry (national do-not-disturb): not a STOP to us, so no consent change
    "REJECTED_DND": (failures.RECIPIENT_OPTED_OUT, True),
    "REJECTED_SOURCE": (failures.NOT_REGISTERED, True),
    "REJECTED_NOT_ENOUGH_CREDITS": (failures.PROVIDER_AUTH_FAILED, True),
    "REJECTED_SENDER": (failures.SENDER_NOT_ALLOWED, True),
    "REJECTED_DESTINATION_BLOCKLISTED": (failures.CARRIER_FILTERED, True),
    "REJECTED_PREPAID_PACKAGE_EXPIRED": (failures.PROVIDER_AUTH_FAILED, True),
    "REJECTED_DESTINATION_NOT_REGISTERED": (failures.INVALID_SENDING_PARAMETERS, True),
    "REJECTED_ROUTE_NOT_AVAILABLE": (failures.UNREACHABLE_DESTINATION, True),
    "REJECTED_FLOODING_FILTER": (failures.RATE_LIMITED, False),
    "REJECTED_SYSTEM_ERROR": (failures.PROVIDER_UNAVAILABLE, False),
    "REJECTED_DUPLICATE_MESSAGE_ID": (failures.OUTCOME_UNKNOWN, True),
    "REJECTED_INVALID_UDH": (failures.INVALID_SENDING_PARAMETERS, True),
    "REJECTED_MESSAGE_TOO_LONG": (failures.BODY_TOO_LONG, True),
    "MISSING_TO": (failures.INVALID_SENDING_PARAMETERS, True),
    "REJECTED_DESTINATION": (failures.INVALID_SENDING_PARAMETERS, True),
    "UNDELIVERABLE_REJECTED_PLATFORM": (failures.INVALID_SENDING_PARAMETERS, True),
    # delivery-report error names (handset, user and operator groups)
    "EC_UNKNOWN_SUBSCRIBER": (failures.UNREACHABLE_DESTINATION, True),
    "EC_UNIDENTIFIED_SUBSCRIBER": (failures.UNREACHABLE_DESTINATION, False),
    "EC_ABSENT_SUBSCRIBER_SM": (failures.UNREACHABLE_DESTINATION, False),
    "EC_ABSENT_SUBSCRIBER": (failures.UNREACHABLE_DESTINATION, False),
    "EC_ILLEGAL_SUBSCRIBER": (failures.UNREACHABLE_DESTINATION, True),
    "EC_TELESERVICE_NOT_PROVISIONED": (failures.LANDLINE, True),
    "EC_DEST_ADDRESS_UNABLE_TO_RECEIVE_SMS": (failures.LANDLINE, True),
    "EC_DESTINATION_NOT_SMS_PROVISIONED": (failures.LANDLINE, True),
    "EC_CALL_BARRED": (failures.UNREACHABLE_DESTINATION, False),
    "EC_SUBSCRIBER_BUSY_FOR_MT_SMS": (failures.UNREACHABLE_DESTINATION, False),
    "EC_SM_DELIVERY_FAILURE": (failures.UNREACHABLE_DESTINATION, False),
    "EC_SM_DF_MEMORYCAPACITYEXCEEDED": (failures.UNREACHABLE_DESTINATION, False),
    "EC_SYSTEM_FAILURE": (failures.UNREACHABLE_DESTINATION, False),
    "EC_INVALID_DESTINATION_ADDRESS": (failures.INVALID_SENDING_PARAMETERS, False),
    "EC_MSG_TEXT_TOO_LONG": (failures.BODY_TOO_LONG, True),
    "EC_INVALID_SOURCE_ADDRESS": (failures.SENDER_NOT_ALLOWED, True),
    "EC_CONTENT_BLOCKED": (failures.RECIPIENT_OPTED_OUT, True),  # blocked by the recipient's STOP
    "EC_SC_BLOCKED_BY_END_USER": (failures.RECIPIENT_OPTED_OUT, True),
    "EC_REJECTED_SPAM_BY_OPERATOR": (failures.CARRIER_FILTERED, True),
    "EC_CONTENT_BLOCKED_BY_OPERATOR": (failures.CARRIER_FILTERED, True),
    "EC_BLACKLISTED_DESTINATIONADDRESS": (failures.CARRIER_FILTERED, True),
    "EC_CAMPAIGNID_NOT_PROVISIONED": (failures.NOT_REGISTERED, True),
    "EC_10DLC_LIMIT_REACHED": (failures.NOT_REGISTERED, True),
    "EC_TF_NUMBER_NOT_VERIFIED": (failures.NOT_REGISTERED, True),
    "EC_VALIDITY_EXPIRED": (failures.EXPIRED, True),
    "EC_MESSAGE_CANCELED": (failures.EXPIRED, True),
    "EC_DEACTIVATED_LIST": (failures.UNREACHABLE_DESTINATION, True),
    # API exceptions (requestError.serviceException.messageId)
    "BAD_REQUEST": (failures.INVALID_SENDING_PARAMETERS, True),
    "UNAUTHORIZED": (failures.PROVIDER_AUTH_FAILED, True),
    "FORBIDDEN": (failures.PROVIDER_AUTH_FAILED, True),
    "TOO_MANY_REQUESTS": (failures.RATE_LIMITED, False),
    "GENERAL_ERROR": (failures.PROVIDER_UNAVAILABLE, False),
}

# Errors whose report means the recipient opted out (so consent is recorded).
OPT_OUT_ERRORS = frozenset({"EC_CONTENT_BLOCKED", "EC_SC_BLOCKED_BY_END_USER"})

_GROUP_DEFAULT_REASON = {
    "UNDELIVERABLE": (failures.UNREACHABLE_DESTINATION, False),
    "EXPIRED": (failures.EXPIRED, False),
    "REJECTED": (failures.INVALID_SENDING_PARAMETERS, True),
}


def _status_of(obj: object) -> tuple[str, str]:
    """(name, groupName) of a status object."""
    if not isinstance(obj, dict):
        return "", ""
    return str(obj.get("name") or ""), str(obj.get("groupName") or "")


def neutral_status(status_obj: object) -> tuple[str, str | None]:
    """(provider status as kept in history, neutral status) of a status object."""
    name, group = _status_of(status_obj)
    if name in STATUS_MAP:
        return name, STATUS_MAP[name]
    if group in STATUS_MAP:
        return name or group, STATUS_MAP[group]
    return name or group, None  # unknown value: no news


def failure_of(status_obj: object, error_obj: object) -> tuple[str, bool, str, str, bool]:
    """(reason, permanent, error code, error text, opt_out) of a failed report."""
    name, group = _status_of(status_obj)
    error = error_obj if isinstance(error_obj, dict) else {}
    error_name = str(error.get("name") or "")
    error_id = str(error.get("id") or "0")
    if error_name and error_id != "0" and error_name in ERROR_MAP:
        reason, permanent = ERROR_MAP[error_name]
    elif name in ERROR_MAP:
        reason, permanent = ERROR_MAP[name]
    else:
        reason, permanent = _GROUP_DEFAULT_REASON.get(group, (failures.UNKNOWN, False))
    if isinstance(error.get("permanent"), bool):
        permanent = error["permanent"] or permanent
    code = error_name if error_name and error_id != "0" else name
    text = str(
        error.get("description") or (status_obj if isinstance(status_obj, dict) else {}).get("description") or ""
    )
    return reason, permanent, code, text, error_name in OPT_OUT_ERRORS


class InfobipProvider:
    kind = "infobip"
    display_name = "Infobip"
    credential_fields = (
        CredentialField("base_url", _("API base URL"), secret=False, help=_("e.g. https://xxxxx.api.infobip.com")),
        CredentialField("api_key", _("API key")),
        CredentialField(
            "webhook_username",
            _("Webhook username (optional)"),
            secret=False,
            required=False,
            help=_("If Infobip is set to call our webhooks with Basic credentials."),
        ),
        CredentialField("webhook_password", _("Webhook password (optional)"), required=False),
    )
    supports_idempotency = False
    supports_lookup = True
    reports_delivery = True
    signs_webhooks = False  # see the module docstring: the URL key, optional secrets, allow-list

    def _base(self, account: AccountConfig) -> str:
        return account.base_url(account.credentials.get("base_url") or DEFAULT_BASE_URL)

    def _headers(self, account: AccountConfig) -> dict[str, str]:
        return {"Authorization": f"App {account.credentials.get('api_key', '')}", "Accept": "application/json"}

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        sms: dict[str, object] = {
            "from": _http.without_plus(message.from_number),
            "destinations": [{"to": _http.without_plus(message.to_number), "messageId": message.idempotency_key}],
            "text": message.body,
            "notifyContentType": "application/json",
        }
        notify_url = message.status_callback_url or account.status_url
        if notify_url:
            sms["notifyUrl"] = notify_url
        if message.client_reference:
            sms["callbackData"] = message.client_reference
        response = _http.send_request(
            client,
            "POST",
            f"{self._base(account)}/sms/2/text/advanced",
            json={"messages": [sms]},
            headers=self._headers(account),
        )
        if response.status_code >= 300:
            self._raise_http_error(response)
        data = _http.answer_object(response)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, str(response.status_code), "no message in answer")
        item = messages[0]
        provider_status, neutral = neutral_status(item.get("status"))
        if provider_status == "REJECTED_DUPLICATE_MESSAGE_ID":
            # A message with our id exists: an earlier attempt got through. Report that one.
            found = self.lookup(account, message, client)
            if found is None:
                raise OutcomeUnknownError(
                    failures.OUTCOME_UNKNOWN,
                    provider_status,
                    "Infobip has this message id but its log is not available",
                )
            return found
        if neutral == status.FAILED:
            reason, permanent, code, text, opt_out = failure_of(item.get("status"), item.get("error"))
            raise _http.refusal(reason, permanent, code, text, opt_out=opt_out)
        return SendResult(
            provider_message_id=str(item.get("messageId") or message.idempotency_key),
            status=neutral or status.QUEUED,
            provider_status=provider_status,
            segments=item.get("smsCount") if isinstance(item.get("smsCount"), int) else None,
        )

    @staticmethod
    def _raise_http_error(response: httpx.Response) -> None:
        data = _http.json_or_empty(response)
        exception: object = {}
        if isinstance(data, dict) and isinstance(data.get("requestError"), dict):
            error = data["requestError"]
            exception = error.get("serviceException") or error.get("policyException") or {}
        code = str(exception.get("messageId") or response.status_code) if isinstance(exception, dict) else ""
        text = str(exception.get("text") or "") if isinstance(exception, dict) else ""
        _http.raise_for_transport_status(response, code, text)
        reason, permanent = ERROR_MAP.get(code, (failures.INVALID_SENDING_PARAMETERS, True))
        raise _http.refusal(reason, permanent, code, text)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult | None:
        # Logs keep messages for 48 hours and may lag a little. A miss (None) is still safe for the caller: a
        # resend carries the same messageId, which Infobip refuses as a duplicate, and send() then looks again.
        response = _http.send_request(
            client,
            "GET",
            f"{self._base(account)}/sms/1/logs",
            params={"messageId": message.idempotency_key},
            headers=self._headers(account),
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            self._raise_http_error(response)
        results = _http.answer_object(response).get("results")
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            return None
        item = results[0]
        provider_status, neutral = neutral_status(item.get("status"))
        return SendResult(
            provider_message_id=str(item.get("messageId") or message.idempotency_key),
            status=neutral or status.QUEUED,
            provider_status=provider_status,
        )

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        username = account.credentials.get("webhook_username", "")
        password = account.credentials.get("webhook_password", "")
        if not username and not password:
            return  # protected by the unguessable URL key alone (see the module docstring)
        header = request.header("authorization")
        if not header.lower().startswith("basic "):
            raise WebhookRejected(401, "missing Basic credentials")
        try:
            given = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise WebhookRejected(401, "malformed Basic credentials") from None
        expected = f"{username}:{password}".encode()
        if not _webhooks.same_secret(given, expected):
            raise WebhookRejected(403, "Basic credentials do not match")

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return _parse_results(request)

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return _parse_results(request)


def _parse_results(request: WebhookRequest) -> ParsedWebhook:
    """Both webhook kinds are ``{"results": [...]}``; a result with ``text`` is a message, with ``status`` a report."""
    data = _webhooks.json_value(request.body)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise WebhookRejected(400, "body has no results array")
    inbound, statuses = [], []
    for item in results:
        if not isinstance(item, dict) or not item.get("messageId"):
            raise WebhookRejected(400, "result without messageId")
        if "status" in item:
            statuses.append(_report(item))
        elif "text" in item or "from" in item:
            if not item.get("from") or not item.get("to"):
                raise WebhookRejected(400, "inbound message lacks from or to")
            inbound.append(
                InboundSMS(
                    provider_message_id=str(item["messageId"]),
                    from_number=_webhooks.e164(item["from"]),
                    to_number=_webhooks.e164(item["to"]),
                    body=str(item.get("text") or ""),
                    segments=item.get("smsCount") if isinstance(item.get("smsCount"), int) else None,
                    received_at=_webhooks.parse_timestamp(item.get("receivedAt")),
                )
            )
        else:
            raise WebhookRejected(400, "result is neither a message nor a delivery report")
    return ParsedWebhook(inbound=inbound, statuses=statuses)


def _report(item: dict) -> StatusReport:
    provider_status, neutral = neutral_status(item.get("status"))
    if not provider_status:
        raise WebhookRejected(400, "delivery report without status name")
    reason, permanent, code, text, opt_out = "", False, "", "", False
    if neutral in (status.UNDELIVERED, status.FAILED):
        reason, permanent, code, text, opt_out = failure_of(item.get("status"), item.get("error"))
    return StatusReport(
        provider_message_id=str(item["messageId"]),
        provider_status=provider_status,
        status=neutral,
        error_code=code,
        error_text=text,
        failure_reason=reason,
        permanent=permanent,
        opt_out=opt_out,
        occurred_at=_webhooks.parse_timestamp(item.get("doneAt") or item.get("sentAt")),
        client_reference=str(item.get("callbackData") or ""),
    )


PROVIDER = InfobipProvider()
