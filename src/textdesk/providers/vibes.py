"""Vibes Connect (SMS aggregation, US and Canada): every request and answer is XML, with HTTP Basic.

Send: ``POST {base}/MessageApi/mt/messages`` with an ``<mtMessage submitterMessageId="…">`` (our reference,
at most 40 characters), the customer as ``<destination address carrier type="MDN"/>`` (the carrier code kept
from their inbound messages: Vibes needs it on every message to that address), our number as ``<source>``,
``<text>``, and ``<receiptOption callbackUrl>`` asking for every delivery report. ``splitLongMessage`` lets
Vibes split a text over 160 characters; each part is then reported on its own.

Delivery reports (``<mtMessageResponse>``) come several per message: a *System* report (Vibes took it), a
*Carrier* report and a *Handset* report, and for a long message one of each per part (``<multipart
originalMessageId noOfParts partNumber>``). A part's reports are addressed to ``<original id>:<part number>``,
the part ids that :meth:`VibesProvider.send` returns, so the messaging layer keeps a status per part and
combines them; precedence (``domain.status``) keeps a part's final state, so a late *System* report never
undoes a *Handset* delivery.

Inbound (``<moMessage messageId attemptNumber>``): Vibes retries any non-2xx every 5 minutes up to 5 times,
so every well-formed message is answered 200, even when its text is unusable; ``messageId`` deduplicates
the retries (``attemptNumber`` > 1 is logged). The customer's ``carrier`` travels with the message.

Webhook authenticity: Vibes signs nothing; its delivery callbacks cannot carry Basic credentials. The
unguessable key in our URLs protects them, with the account's source-address allow-list (Vibes publishes its
addresses: ``PUBLISHED_SOURCES``) and, on the inbound URL only, optional Basic credentials.

Unverified (no public example found): the exact shape of the send answer (we read the ``messageId`` attribute
wherever it is) and of its errors (we read any ``code``/``errorCode`` and ``description``/``message``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import httpx
from django.utils.translation import gettext_lazy as _

from textdesk.domain import failures, segments, status
from textdesk.providers import _callback_access, _http, _webhooks
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

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://messageapi.vibesapps.com"
SEND_PATH = "/MessageApi/mt/messages"
MAX_SUBMITTER_ID = 40
XML_TYPES = ("application/xml", "text/xml", "")

# The addresses Vibes posts from (its documentation), offered as the allow-list of a new Vibes account.
PUBLISHED_SOURCES = {
    "US": (
        "35.155.139.143",
        "52.32.61.199",
        "35.161.244.84",
        "18.205.120.48",
        "52.22.43.57",
        "18.232.9.131",
        "54.245.204.57",
        "54.148.156.236",
    ),
    "EU": ("34.243.232.57", "52.48.241.82", "34.249.188.130", "54.247.36.51", "34.253.250.65", "54.217.181.160"),
}

# Report type → neutral status when the report is not an error, and when it is.
REPORT_TYPES: dict[str, tuple[str, str]] = {
    "System": (status.SENDING, status.FAILED),  # Vibes took it / Vibes could not hand it to a carrier
    "Carrier": (status.SENT, status.UNDELIVERED),  # the carrier took it / the carrier refused it
    "Handset": (status.DELIVERED, status.UNDELIVERED),  # on the phone / the phone could not be reached
}
# What an error report means when Vibes gives no more than its type.
TYPE_FAILURES: dict[str, tuple[str, bool]] = {
    "System": (failures.INVALID_SENDING_PARAMETERS, True),
    "Carrier": (failures.CARRIER_FILTERED, True),
    "Handset": (failures.UNREACHABLE_DESTINATION, False),
}

_DECLARATION = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def part_id(original_id: str, number: int) -> str:
    return f"{original_id}:{number}"


def parse_xml(body: bytes) -> ET.Element:
    """The document's root; 400 when empty, not XML, or declaring a DTD or entities (never expanded)."""
    if not body.strip():
        raise WebhookRejected(400, "empty body")
    if _DECLARATION.search(body):
        raise WebhookRejected(400, "XML with a DOCTYPE or entity declaration is refused")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise WebhookRejected(400, f"body is not well-formed XML: {exc}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def source_type(number: str) -> str:
    """``SC`` for a short code (digits only, no country code), else ``MDN`` (a phone number)."""
    return "SC" if number.isdigit() and len(number) <= 8 else "MDN"


def mt_message(message: OutboundSMS, callback_url: str) -> bytes:
    """The ``<mtMessage>`` document of one send."""
    reference = (message.client_reference or message.idempotency_key)[:MAX_SUBMITTER_ID]
    carrier = f" carrier={quoteattr(message.destination_carrier)}" if message.destination_carrier else ""
    kind = source_type(message.from_number)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<mtMessage submitterMessageId={quoteattr(reference)} splitLongMessage="true">',
        f'<destination address={quoteattr(message.to_number)}{carrier} type="MDN"/>',
        f'<source address={quoteattr(message.from_number)} type="{kind}"/>',
        f"<text>{escape(message.body)}</text>",
    ]
    if callback_url:
        parts.append(f"<receiptOption callbackUrl={quoteattr(callback_url)}>ALL</receiptOption>")
    parts.append("</mtMessage>")
    return "".join(parts).encode("utf-8")


def _find_attribute(root: ET.Element, name: str) -> str:
    for element in root.iter():
        if element.get(name):
            return str(element.get(name))
    return ""


def _error_of(root: ET.Element | None) -> tuple[str, str]:
    """(code, description) of an error answer, wherever Vibes put them."""
    if root is None:
        return "", ""
    code = _find_attribute(root, "code") or _find_attribute(root, "errorCode")
    text = _find_attribute(root, "description") or _find_attribute(root, "message")
    for element in root.iter():
        name = _local(element.tag)
        if not code and name in ("code", "errorCode"):
            code = _text(element)
        if not text and name in ("description", "message"):
            text = _text(element)
    return code, text


class VibesProvider:
    kind = "vibes"
    display_name = "Vibes"
    signs_webhooks = False
    credential_fields = (
        CredentialField("username", _("User name"), secret=False),
        CredentialField("password", _("Password")),
        CredentialField(
            "base_url",
            _("Base URL"),
            secret=False,
            required=False,
            help=_("Empty: https://messageapi.vibesapps.com"),
        ),
        CredentialField(
            "webhook_username",
            _("Inbound callback user name (optional)"),
            secret=False,
            required=False,
            help=_(
                "When Vibes calls the inbound URL with Basic credentials, TextDesk requires them. "
                "Vibes' delivery callbacks cannot carry credentials."
            ),
        ),
        CredentialField("webhook_password", _("Inbound callback password (optional)"), required=False),
    )
    supports_idempotency = False
    supports_lookup = False
    reports_delivery = True
    needs_customer_carrier = True
    default_response = WebhookResponse(200, "application/xml", b"")

    # ------------------------------------------------------------ sending

    def send(self, account: AccountConfig, message: OutboundSMS, client: httpx.Client) -> SendResult:
        base = account.base_url(account.credentials.get("base_url") or DEFAULT_BASE_URL)
        response = _http.send_request(
            client,
            "POST",
            base + SEND_PATH,
            content=mt_message(message, message.status_callback_url or account.status_url),
            auth=(_http.credential(account, "username"), _http.credential(account, "password")),
            headers={"Content-Type": "application/xml", "Accept": "application/xml"},
            timeout=_http.timeout_for(account.options),
        )
        root = None
        try:
            root = parse_xml(response.content) if response.content.strip() else None
        except WebhookRejected:
            root = None
        if response.status_code >= 300:
            code, text = _error_of(root)
            _http.raise_for_transport_status(response, code, text)
            raise PermanentProviderError(
                failures.INVALID_SENDING_PARAMETERS, code or str(response.status_code), text or response.reason_phrase
            )
        message_id = _find_attribute(root, "messageId") if root is not None else ""
        if not message_id:
            raise OutcomeUnknownError(
                failures.OUTCOME_UNKNOWN, str(response.status_code), "the answer names no messageId"
            )
        count = segments.count(message.body).segments
        parts = tuple(part_id(message_id, n) for n in range(1, count + 1)) if count > 1 else ()
        return SendResult(
            provider_message_id=message_id,
            status=status.QUEUED,
            provider_status="accepted",
            segments=max(count, 1),
            part_ids=parts,
        )

    def lookup(self, account: AccountConfig, message: OutboundSMS, client) -> SendResult | None:
        return None

    # ------------------------------------------------------------ webhooks

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        # Vibes' delivery callbacks cannot carry Basic credentials: only its inbound posts are asked for them.
        if request.url.split("?", 1)[0].endswith("/inbound"):
            _callback_access.check_basic(account, request)

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return parse_post(request)

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        return parse_post(request)


def parse_post(request: WebhookRequest) -> ParsedWebhook:
    if request.method.upper() != "POST":
        raise WebhookRejected(405, "Vibes POSTs its XML")
    if request.content_type not in XML_TYPES:
        raise WebhookRejected(415, f"unsupported content type {request.content_type!r}")
    root = parse_xml(request.body)
    name = _local(root.tag)
    if name == "moMessage":
        return ParsedWebhook(inbound=[_inbound(root)])
    if name == "mtMessageResponse":
        return ParsedWebhook(statuses=[_report(root)])
    raise WebhookRejected(400, f"unexpected XML document <{name}>")


def _inbound(root: ET.Element) -> InboundSMS:
    message_id = (root.get("messageId") or "").strip()
    source = _child(root, "source")
    destination = _child(root, "destination")
    if not message_id:
        raise WebhookRejected(400, "moMessage without messageId")
    if source is None or not (source.get("address") or "").strip():
        raise WebhookRejected(400, "moMessage without source address")
    if destination is None or not (destination.get("address") or "").strip():
        raise WebhookRejected(400, "moMessage without destination address")
    attempt = _webhooks.to_int(root.get("attemptNumber")) or 1
    if attempt > 1:
        log.info("Vibes resent inbound message %s (attempt %s)", message_id, attempt)
    text = _child(root, "message")
    return InboundSMS(
        provider_message_id=message_id,
        from_number=_webhooks.e164(source.get("address")),
        to_number=_webhooks.e164(destination.get("address")),
        body=text.text or "" if text is not None else "",
        received_at=_webhooks.parse_timestamp(root.get("receiptDate")),
        carrier=(source.get("carrier") or "").strip()[:20],
    )


def _report(root: ET.Element) -> StatusReport:
    message_id = (root.get("messageId") or "").strip()
    kind = _text(_child(root, "type"))
    state = _child(root, "status")
    if kind not in REPORT_TYPES:
        raise WebhookRejected(400, f"report type {kind!r} is not System, Carrier or Handset")
    if state is None or (state.get("isError") or "").strip().lower() not in ("true", "false"):
        raise WebhookRejected(400, "report without <status isError>")
    target = message_id
    note = ""
    multipart = _child(root, "multipart")
    if multipart is not None and _is_true(multipart.get("isMultipart")):
        original = (multipart.get("originalMessageId") or "").strip()
        number = _webhooks.to_int(multipart.get("partNumber"))
        total = _webhooks.to_int(multipart.get("noOfParts"))
        if not original or not number or not total or not 1 <= number <= total:
            raise WebhookRejected(400, "inconsistent multipart originalMessageId / noOfParts / partNumber")
        target = part_id(original, number) if total > 1 else original
        note = f"part {number} of {total}"
    if not target:
        raise WebhookRejected(400, "report without messageId")
    is_error = _is_true(state.get("isError"))
    ok_status, error_status = REPORT_TYPES[kind]
    neutral = error_status if is_error else ok_status
    reason, permanent, code, text = "", False, "", ""
    if is_error:
        reason, permanent = TYPE_FAILURES[kind]
        code = _text(_child(state, "errorCode")) or _text(_child(state, "internalErrorCode"))
        text = _text(_child(state, "description"))
    return StatusReport(
        provider_message_id=target,
        provider_status=f"{kind} {'error' if is_error else 'ok'}",
        status=neutral,
        error_code=code,
        error_text=": ".join(filter(None, [note, text])) if is_error else "",
        failure_reason=reason,
        permanent=permanent,
        occurred_at=_webhooks.parse_timestamp(root.get("receiptDate")),
        client_reference=(root.get("submitterMessageId") or "").strip(),
    )


PROVIDER = VibesProvider()
