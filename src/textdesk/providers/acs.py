"""Azure Communication Services SMS.

Send: ``POST {endpoint}/sms?api-version=2021-03-07`` signed with the HMAC-SHA256 scheme derived from the
resource's connection string (``endpoint=https://….communication.azure.com/;accesskey=<base64>``).
Each recipient carries ``repeatabilityRequestId`` / ``repeatabilityFirstSent``, so a retried request with the
same id is not sent twice: we derive the id from ``OutboundSMS.idempotency_key``. ACS remembers ids for a limited
window (unclear for SMS: the SMS reference gives no figure, the repeatable-requests page gives five minutes for
other ACS APIs); a repeat inside it is answered, not re-sent. A "first sent" date older than the window is refused
with 412, which we report as an unknown outcome.

Inbound messages and delivery reports come through **Event Grid** as a JSON array of events
(``Microsoft.Communication.SMSReceived`` / ``SMSDeliveryReportReceived``). Key casing changed over the years
(PascalCase in older documents, camelCase now), so events are read case-insensitively.

Webhook authenticity: Event Grid does not sign deliveries with a shared-secret HMAC. What protects the endpoint is
the unguessable key in our webhook URL. An administrator may add a second factor: a secret query parameter put in
the Event Grid subscription's endpoint URL (``…/inbound?secret=…``). When the account has a ``webhook_secret``
credential we require it (parameter name ``options["webhook_secret_param"]``, default ``secret``), compared in
constant time. There is no timestamp to check: Event Grid retries the same event for up to a day.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
import uuid
from email.utils import format_datetime

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
    WebhookResponse,
)

API_VERSION = "2021-03-07"
SMS_RECEIVED = "microsoft.communication.smsreceived"
DELIVERY_REPORT = "microsoft.communication.smsdeliveryreportreceived"
VALIDATION_EVENT = "microsoft.eventgrid.subscriptionvalidationevent"

# deliveryStatus of SMSDeliveryReportReceived (the documented values are only these two).
STATUS_MAP: dict[str, str | None] = {
    "Delivered": status.DELIVERED,
    "Failed": status.UNDELIVERED,
}

# ``httpStatusCode`` of a recipient in the send answer (and the HTTP status of the whole request).
# (reason, permanent)
ERROR_MAP: dict[str, tuple[str, bool]] = {
    "400": (failures.INVALID_SENDING_PARAMETERS, True),  # malformed number or body
    "401": (failures.PROVIDER_AUTH_FAILED, True),  # bad access key / signature
    "403": (failures.PROVIDER_AUTH_FAILED, True),
    "404": (failures.SENDER_NOT_ALLOWED, True),  # the "from" number is not on this resource
    "429": (failures.RATE_LIMITED, False),
    "500": (failures.PROVIDER_UNAVAILABLE, False),
    "503": (failures.PROVIDER_UNAVAILABLE, False),
}

# The repeatability window has passed: ACS cannot say whether the earlier attempt went out.
REPEATABILITY_EXPIRED = "412"

# deliveryStatusDetails is free text in the documentation (no closed list); a few recognisable phrases.
DELIVERY_DETAIL_REASONS: tuple[tuple[str, str], ...] = (
    ("opt", failures.RECIPIENT_OPTED_OUT),
    ("expired", failures.EXPIRED),
    ("spam", failures.CARRIER_FILTERED),
    ("filter", failures.CARRIER_FILTERED),
    ("blocked", failures.CARRIER_FILTERED),
    ("landline", failures.LANDLINE),
    ("invalid", failures.INVALID_SENDING_PARAMETERS),
    ("unreachable", failures.UNREACHABLE_DESTINATION),
)


# ---------------------------------------------------------------- connection string and signing


def parse_connection_string(value: str) -> tuple[str, str]:
    """``endpoint=…;accesskey=…`` → (endpoint without trailing slash, access key)."""
    parts = {}
    for piece in (value or "").split(";"):
        if "=" in piece:
            name, _, val = piece.partition("=")
            parts[name.strip().lower()] = val.strip()
    endpoint, key = parts.get("endpoint", ""), parts.get("accesskey", "")
    if not endpoint or not key:
        raise PermanentProviderError(
            failures.PROVIDER_AUTH_FAILED, text="connection string needs endpoint and accesskey"
        )
    return endpoint.rstrip("/"), key


def sign_request(method: str, url: str, body: bytes, access_key: str, when: dt.datetime) -> dict[str, str]:
    """Headers of the HMAC-SHA256 scheme: x-ms-date, x-ms-content-sha256 and Authorization."""
    parts = urllib.parse.urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    date = format_datetime(when.astimezone(dt.UTC), usegmt=True)
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    string_to_sign = f"{method.upper()}\n{path_and_query}\n{date};{parts.netloc};{content_hash}"
    try:
        key = base64.b64decode(access_key, validate=True)
    except ValueError:
        raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, text="access key is not base64") from None
    signature = base64.b64encode(hmac.new(key, string_to_sign.encode(), hashlib.sha256).digest()).decode()
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }


def repeatability_id(idempotency_key: str) -> str:
    """A GUID that is the same for every retry of one message."""
    try:
        return str(uuid.UUID(idempotency_key))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"textdesk:acs:{idempotency_key}"))


# ---------------------------------------------------------------- adapter


class AcsProvider:
    kind = "acs"
    display_name = "Azure Communication Services"
    credential_fields = (
        CredentialField(
            "connection_string",
            _("Primary connection string"),
            help=_("endpoint=https://<resource>.communication.azure.com/;accesskey=…"),
        ),
        CredentialField(
            "secondary_connection_string",
            _("Secondary connection string"),
            required=False,
            help=_("Used when the primary key is refused (e.g. during key rotation)."),
        ),
        CredentialField(
            "webhook_secret",
            _("Webhook secret (optional)"),
            required=False,
            help=_("If set, add ?secret=<value> to both Event Grid endpoint URLs."),
        ),
    )
    supports_idempotency = True
    supports_lookup = False
    reports_delivery = True
    signs_webhooks = False  # see the module docstring: the URL key, optional secrets, allow-list

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        strings = [account.credentials.get("connection_string", "")]
        if account.credentials.get("secondary_connection_string"):
            strings.append(account.credentials["secondary_connection_string"])
        last_error: PermanentProviderError | None = None
        for connection_string in strings:
            try:
                return self._send_with(account, message, client, connection_string)
            except PermanentProviderError as exc:
                if exc.reason != failures.PROVIDER_AUTH_FAILED:
                    raise
                last_error = exc  # try the secondary key; the repeatability id keeps this safe
        assert last_error is not None
        raise last_error

    def _send_with(
        self, account: AccountConfig, message: OutboundSMS, client: httpx.Client, connection_string: str
    ) -> SendResult:
        endpoint, access_key = parse_connection_string(connection_string)
        url = f"{account.base_url(endpoint)}/sms?api-version={API_VERSION}"
        now = dt.datetime.now(dt.UTC)
        first_sent = message.first_attempted_at or now
        if first_sent.tzinfo is None:
            first_sent = first_sent.replace(tzinfo=dt.UTC)
        options: dict[str, bool | str] = {"enableDeliveryReport": True}
        if message.client_reference:
            options["tag"] = message.client_reference
        payload = {
            "from": message.from_number,
            "smsRecipients": [
                {
                    "to": message.to_number,
                    "repeatabilityRequestId": repeatability_id(message.idempotency_key),
                    # The time of the *first* attempt, the same on every resend: inside ACS's window the id is
                    # recognised and not sent again; after it ACS answers 412 (unknown outcome) instead of
                    # taking the resend as a new request.
                    "repeatabilityFirstSent": format_datetime(first_sent.astimezone(dt.UTC), usegmt=True),
                }
            ],
            "message": message.body,
            "smsSendOptions": options,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **sign_request("POST", url, body, access_key, now)}
        response = _http.send_request(client, "POST", url, content=body, headers=headers)
        if response.status_code >= 300:
            self._raise_http_error(response)
        data = _webhooks.lower_keys(_http.answer_object(response))
        items = data.get("value") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, str(response.status_code), "no recipient in answer")
        item = items[0]
        message_id = str(item.get("messageid") or "")
        if item.get("successful") is True and message_id:
            return SendResult(
                provider_message_id=message_id,
                status=status.QUEUED,
                provider_status=str(item.get("repeatabilityresult") or "accepted"),
            )
        if str(item.get("repeatabilityresult") or "").lower() == "rejected":
            # ACS refused to run this request again: it has seen the id (or the first-sent date is outside its
            # window). With a message id that is the earlier message; without one we cannot know.
            if message_id:
                return SendResult(provider_message_id=message_id, status=status.QUEUED, provider_status="rejected")
            raise OutcomeUnknownError(
                failures.OUTCOME_UNKNOWN, "repeated", "ACS saw this request before but gave no message id"
            )
        code = str(item.get("httpstatuscode") or response.status_code)
        if code == REPEATABILITY_EXPIRED:
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, code, str(item.get("errormessage") or ""))
        reason, permanent = ERROR_MAP.get(code, (failures.UNKNOWN, code.startswith("4")))
        raise _http.refusal(reason, permanent, code, str(item.get("errormessage") or ""))

    @staticmethod
    def _raise_http_error(response: httpx.Response) -> None:
        data = _webhooks.lower_keys(_http.json_or_empty(response))
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or response.status_code)
        text = str(error.get("message") or "")
        if str(response.status_code) == REPEATABILITY_EXPIRED:
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, code, text)
        _http.raise_for_transport_status(response, code, text)
        reason, permanent = ERROR_MAP.get(str(response.status_code), (failures.INVALID_SENDING_PARAMETERS, True))
        raise _http.refusal(reason, permanent, code, text)

    def lookup(self, account: AccountConfig, message: OutboundSMS, client) -> SendResult | None:
        return None  # ACS offers no message lookup; the repeatability id makes a resend safe instead.

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        secret = account.credentials.get("webhook_secret", "")
        if not secret:
            return  # protected by the unguessable URL key alone (see the module docstring)
        name = str(account.options.get("webhook_secret_param") or "secret")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query, keep_blank_values=True))
        given = query.get(name)
        if given is None:
            raise WebhookRejected(401, f"missing webhook secret parameter '{name}'")
        if not _webhooks.same_secret(given, secret):
            raise WebhookRejected(403, "webhook secret does not match")

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return parse_events(request)

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return parse_events(request)


def parse_events(request: WebhookRequest) -> ParsedWebhook:
    """Read an Event Grid delivery (one or many events, either kind, or the validation handshake)."""
    data = _webhooks.lower_keys(_webhooks.json_value(request.body))
    events = data if isinstance(data, list) else [data]
    inbound: list[InboundSMS] = []
    statuses: list[StatusReport] = []
    response: WebhookResponse | None = None
    for event in events:
        if not isinstance(event, dict):
            raise WebhookRejected(400, "event is not an object")
        # Event Grid schema uses eventType; the CloudEvents schema uses type.
        event_type = str(event.get("eventtype") or event.get("type") or "").lower()
        payload = event.get("data")
        if not isinstance(payload, dict):
            raise WebhookRejected(400, f"event {event.get('id', '?')} has no data object")
        if event_type == VALIDATION_EVENT or request.header("aeg-event-type").lower() == "subscriptionvalidation":
            code = payload.get("validationcode")
            if not code:
                raise WebhookRejected(400, "validation event without validationCode")
            response = WebhookResponse(
                status=200, content_type="application/json", body=json.dumps({"validationResponse": code}).encode()
            )
        elif event_type == SMS_RECEIVED:
            inbound.append(_inbound(payload, event))
        elif event_type == DELIVERY_REPORT:
            statuses.append(_delivery_report(payload, event))
        # Other event types (e.g. subscription deleted) carry nothing for us.
    return ParsedWebhook(inbound=inbound, statuses=statuses, response=response)


def _required(payload: dict, name: str) -> str:
    value = payload.get(name)
    if value is None or value == "":
        raise WebhookRejected(400, f"event data lacks {name}")
    return str(value)


def _inbound(payload: dict, event: dict) -> InboundSMS:
    return InboundSMS(
        provider_message_id=_required(payload, "messageid"),
        from_number=_webhooks.e164(_required(payload, "from")),
        to_number=_webhooks.e164(_required(payload, "to")),
        body=str(payload.get("message") or ""),
        received_at=_webhooks.parse_timestamp(payload.get("receivedtimestamp") or event.get("eventtime")),
    )


def _delivery_report(payload: dict, event: dict) -> StatusReport:
    delivery_status = _required(payload, "deliverystatus")
    # Documented values are "Delivered" and "Failed"; match them whatever the casing.
    canonical = next((k for k in STATUS_MAP if k.lower() == delivery_status.lower()), None)
    if canonical is None:
        raise WebhookRejected(400, f"unknown deliveryStatus {delivery_status!r}")
    neutral = STATUS_MAP[canonical]
    details = str(payload.get("deliverystatusdetails") or "")
    reason = ""
    if neutral in (status.UNDELIVERED, status.FAILED):
        lowered = details.lower()
        reason = next((r for word, r in DELIVERY_DETAIL_REASONS if word in lowered), failures.UNREACHABLE_DESTINATION)
    attempts = payload.get("deliveryattempts") or []
    last_attempt = attempts[-1] if isinstance(attempts, list) and attempts and isinstance(attempts[-1], dict) else {}
    return StatusReport(
        provider_message_id=_required(payload, "messageid"),
        provider_status=canonical,
        status=neutral,
        error_text=details if reason else "",
        failure_reason=reason,
        permanent=bool(reason),
        opt_out=reason == failures.RECIPIENT_OPTED_OUT,
        occurred_at=_webhooks.parse_timestamp(
            payload.get("receivedtimestamp") or last_attempt.get("timestamp") or event.get("eventtime")
        ),
        client_reference=str(payload.get("tag") or ""),
    )


PROVIDER = AcsProvider()
