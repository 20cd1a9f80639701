"""LINK Mobility, Common Platform SMS REST API (the API Dynamics 365 configures).

Send: ``POST {base}/sms/send`` with a JSON object and HTTP Basic (user name, password): ``source``,
``destination``, ``userData``, ``platformId``, ``platformPartnerId``, ``refId`` (our message id, echoed in the
delivery report), ``useDeliveryReport`` and ``deliveryReportGates`` (the gate id that posts reports to us),
``moReferenceId`` when the message answers a customer's message. The answer is
``{messageId, resultCode, description, smsCount}``; ``resultCode`` 1005 means queued.

Delivery reports and inbound messages are JSON posts from a *gate* (set up by LINK support with our URLs):
a report is ``{id, refId, resultCode, operatorResultCode, segments, timestamp, …}``, a message is
``{messageId, source, destination, content: {type, userData}, timestamp, operator, …}``. Either may reach
either of our URLs, so both parse functions read both. A long message is one message id with ``smsCount``
parts and one report for the whole.

Webhook authenticity: LINK signs nothing. The unguessable key in our URL protects the gate's posts; the
account may add Basic credentials (set on the gate by LINK) and a source-address allow-list (see
``_callback_access``). Gates expect 204 No Content.
"""

from __future__ import annotations

import datetime as dt

import httpx
from django.utils.translation import gettext_lazy as _

from textdesk.domain import failures, status
from textdesk.providers import _callback_access, _http, _webhooks
from textdesk.providers._http import ErrorMeaning
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
    WebhookResponse,
)

DEFAULT_BASE_URL = "https://wsx.sp247.net"
QUEUED_CODE = "1005"

# Result codes of delivery reports (and of the send answer) → neutral status.
STATUS_MAP: dict[str, str | None] = {
    "1000": status.SENT,  # sent to the operator
    "1001": status.DELIVERED,  # delivered and billed (final)
    "1002": status.UNDELIVERED,  # expired
    "1004": status.UNDELIVERED,  # the phone's memory is full
    "1005": status.QUEUED,  # queued at LINK
    "1006": status.UNDELIVERED,  # not delivered
    "1007": status.DELIVERED,  # delivered, billing delayed
    "1008": status.SENT,  # billed and sent (not final)
    "1009": status.UNDELIVERED,  # billed but NOT delivered
    "1010": status.UNDELIVERED,  # expired, the operator never reported
    "1011": status.SENT,  # billed and sent (not final)
    "1012": status.SENT,  # delayed, LINK will retry
}

# Result codes of failures (reports and send answers) → what they mean.
ERROR_MAP: dict[str, ErrorMeaning] = {
    "1002": ErrorMeaning(failures.EXPIRED, permanent=False),
    "1004": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
    "1006": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
    "1009": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
    "1010": ErrorMeaning(failures.EXPIRED, permanent=False),
    # the subscriber or the number
    "2104": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=True),  # unknown subscriber
    "2105": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # permanently barred
    "2106": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # number error
    "2107": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),  # temporarily barred
    "2200": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),  # charging, prepaid and age barring
    "2201": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    "2202": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    "2203": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    "2204": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    "2205": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    "2206": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    "2207": ErrorMeaning(failures.CARRIER_FILTERED, permanent=True),
    # content and encoding
    "3000": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # GSM text not supported
    "3001": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # UCS-2 not supported
    "3002": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # binary not supported
    "4000": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # invalid content …
    "4001": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "4002": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "4003": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "4004": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "4005": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "4006": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),
    "4007": ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True),  # … UDH, DCS
    # routing, throttling, timeouts, operator and internal errors: the same message may pass later
    "0": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),
    "1": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
    "2": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
    "3": ErrorMeaning(failures.RATE_LIMITED, permanent=False),
    "4": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),
    "5": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
    "6": ErrorMeaning(failures.PROVIDER_UNAVAILABLE, permanent=False),
    "104": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
    "105": ErrorMeaning(failures.UNREACHABLE_DESTINATION, permanent=False),
}


def report_status(code: str) -> str | None:
    """The neutral status of a result code; any documented failure code is undelivered, others no news."""
    if code in STATUS_MAP:
        return STATUS_MAP[code]
    if code in ERROR_MAP:
        return status.UNDELIVERED
    return None


def source_ton(number: str) -> str:
    """LINK's type of number for our sender: a phone number, a short code, or a name."""
    digits = number.removeprefix("+")
    if number.startswith("+") and digits.isdigit():
        return "MSISDN"
    if digits.isdigit() and len(digits) <= 8:
        return "SHORTCODE"
    return "ALPHANUMERIC"


def _code(value: object) -> str:
    return "" if value is None or isinstance(value, bool) else str(value).strip()


class LinkMobilityProvider:
    kind = "link_mobility"
    display_name = "LINK Mobility"
    signs_webhooks = False
    credential_fields = (
        CredentialField("platform_id", _("Platform ID"), secret=False),
        CredentialField("platform_partner_id", _("Platform partner ID"), secret=False),
        CredentialField(
            "gate_id",
            _("Gate ID"),
            secret=False,
            help=_("The gate that posts delivery reports to the status URL below (set up by LINK support)."),
        ),
        CredentialField("username", _("User name"), secret=False),
        CredentialField("password", _("Password")),
        CredentialField(
            "base_url",
            _("Base URL"),
            secret=False,
            required=False,
            help=_("Your LINK node, e.g. https://n-eu.linkmobility.io (empty: https://wsx.sp247.net)."),
        ),
        CredentialField(
            "webhook_username",
            _("Callback user name (optional)"),
            secret=False,
            required=False,
            help=_("When LINK's gate calls our URLs with Basic credentials, TextDesk requires them."),
        ),
        CredentialField("webhook_password", _("Callback password (optional)"), required=False),
    )
    supports_idempotency = False
    supports_lookup = False  # the API has no lookup by our refId
    reports_delivery = True
    default_response = WebhookResponse(204, "text/plain", b"")

    def _base(self, account: AccountConfig) -> str:
        return account.base_url(account.credentials.get("base_url") or DEFAULT_BASE_URL)

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        request: dict[str, object] = {
            "source": message.from_number,
            "sourceTON": source_ton(message.from_number),
            "destination": message.to_number,
            "destinationTON": "MSISDN",
            "userData": message.body,
            "platformId": _http.credential(account, "platform_id"),
            "platformPartnerId": _http.credential(account, "platform_partner_id"),
            "refId": message.client_reference or message.idempotency_key,
        }
        gate = account.credentials.get("gate_id")
        if gate:
            request["useDeliveryReport"] = True
            request["deliveryReportGates"] = [gate]
        if message.in_reply_to:
            request["moReferenceId"] = message.in_reply_to
        response = _http.send_request(
            client,
            "POST",
            f"{self._base(account)}/sms/send",
            json=request,
            auth=(_http.credential(account, "username"), _http.credential(account, "password")),
            headers={"Accept": "application/json"},
            timeout=_http.timeout_for(account.options),
        )
        if response.status_code >= 300:
            data = _http.json_dict(response)
            code = _code(data.get("resultCode")) or str(response.status_code)
            text = str(data.get("description") or "")
            _http.raise_for_transport_status(response, code, text)
            meaning = ERROR_MAP.get(code, ErrorMeaning(failures.INVALID_SENDING_PARAMETERS, permanent=True))
            raise meaning.error(code, text)
        data = _http.answer_object(response)
        code = _code(data.get("resultCode"))
        message_id = str(data.get("messageId") or "")
        if code in ERROR_MAP:
            raise ERROR_MAP[code].error(code, str(data.get("description") or ""))
        if not message_id:
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, code, "answer without messageId")
        count = data.get("smsCount")
        return SendResult(
            provider_message_id=message_id,
            status=report_status(code) or status.QUEUED,
            provider_status=code,
            segments=count if isinstance(count, int) and count > 0 else None,
        )

    def lookup(self, account: AccountConfig, message: OutboundSMS, client) -> SendResult | None:
        return None

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        _callback_access.check_basic(account, request)

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return parse_gate_post(request)

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return parse_gate_post(request)


def parse_gate_post(request: WebhookRequest) -> ParsedWebhook:
    """A gate posts one JSON object: an inbound message (``content``) or a delivery report (``resultCode``)."""
    if request.method.upper() != "POST":
        raise WebhookRejected(405, "LINK gates POST their JSON")
    if request.content_type not in ("application/json", ""):
        raise WebhookRejected(415, f"unsupported content type {request.content_type!r}")
    data = _webhooks.json_object(request.body)
    if "content" in data or "source" in data:
        return ParsedWebhook(inbound=[_inbound(data)])
    if "resultCode" in data:
        return ParsedWebhook(statuses=[_report(data)])
    raise WebhookRejected(400, "body is neither a message (content) nor a delivery report (resultCode)")


def _inbound(data: dict) -> InboundSMS:
    _webhooks.require(data, "messageId", "source", "destination")
    content = data.get("content")
    if not isinstance(content, dict):
        raise WebhookRejected(400, "message without a content object")
    body = content.get("userData")
    if body is not None and not isinstance(body, str):
        raise WebhookRejected(400, "content.userData is not text")
    kind = str(content.get("type") or "TEXT").upper()
    return InboundSMS(
        provider_message_id=str(data["messageId"]),
        from_number=_webhooks.e164(data["source"]),
        to_number=_webhooks.e164(data["destination"]),
        body=(body or "") if kind != "BINARY" else "",
        received_at=_webhooks.parse_timestamp(data.get("timestamp")),
    )


def _report(data: dict) -> StatusReport:
    message_id = str(data.get("id") or "")
    if not message_id:
        raise WebhookRejected(400, "delivery report without id")
    code = _code(data.get("resultCode"))
    if not code or not code.lstrip("-").isdigit():
        raise WebhookRejected(400, "delivery report without a numeric resultCode")
    neutral = report_status(code)
    reason, permanent, error_code, text = "", False, "", ""
    if neutral in (status.UNDELIVERED, status.FAILED):
        meaning = ERROR_MAP.get(code, ErrorMeaning(failures.UNKNOWN, permanent=False))
        reason, permanent, error_code = meaning.reason, meaning.permanent, code
        operator_code = _code(data.get("operatorResultCode"))
        text = f"operator result {operator_code}" if operator_code else ""
    return StatusReport(
        provider_message_id=message_id,
        provider_status=code,
        status=neutral,
        error_code=error_code,
        error_text=text,
        failure_reason=reason,
        permanent=permanent,
        occurred_at=_webhooks.parse_timestamp(data.get("timestamp")),
        client_reference=str(data.get("refId") or ""),
    )


PROVIDER = LinkMobilityProvider()
