"""A test-only stand-in for the Twilio adapter (used only while textdesk.providers.twilio is absent).

It speaks Twilio's webhook wire format: a form body, signed with HMAC-SHA1 over
the URL followed by the sorted parameters, base64 in X-Twilio-Signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs

from textdesk.domain import status
from textdesk.providers.base import InboundSMS, ParsedWebhook, StatusReport, WebhookRejected, WebhookResponse

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
OPT_OUT_TYPES = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}
STATUSES = {"queued": status.QUEUED, "sent": status.SENT, "delivered": status.DELIVERED,
            "undelivered": status.UNDELIVERED, "failed": status.FAILED}


def _form(body: bytes) -> dict[str, list[str]]:
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise WebhookRejected(400, "the form body is not UTF-8") from None


def _one(params, name: str) -> str:
    return (params.get(name) or [""])[0]


class FakeTwilio:
    kind = "twilio"

    def verify(self, account, request, now=None):
        signature = request.header("x-twilio-signature")
        if not signature:
            raise WebhookRejected(403, "missing X-Twilio-Signature header")
        payload = request.url
        params = _form(request.body)
        for name in sorted(params):
            for value in sorted(set(params[name])):
                payload += name + value
        digest = hmac.new(account.credentials["auth_token"].encode(), payload.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
            raise WebhookRejected(403, "X-Twilio-Signature does not match this URL and body")

    def parse_inbound(self, account, request):
        params = _form(request.body)
        missing = [n for n in ("MessageSid", "From", "To") if not _one(params, n).strip()]
        if missing:
            raise WebhookRejected(400, "missing " + ", ".join(missing))
        segments = _one(params, "NumSegments")
        if segments and not segments.isdigit():
            raise WebhookRejected(400, "NumSegments is not a number")
        return ParsedWebhook(
            inbound=[InboundSMS(
                provider_message_id=_one(params, "MessageSid"), from_number=_one(params, "From"),
                to_number=_one(params, "To"), body=_one(params, "Body"),
                segments=int(segments) if segments else None,
                opt_signal=OPT_OUT_TYPES.get(_one(params, "OptOutType").upper()),
            )],
            response=WebhookResponse(200, "text/xml", EMPTY_TWIML),
        )

    def parse_status(self, account, request):
        params = _form(request.body)
        if not _one(params, "MessageSid") or not _one(params, "MessageStatus"):
            raise WebhookRejected(400, "missing MessageSid, MessageStatus")
        provider_status = _one(params, "MessageStatus").lower()
        return ParsedWebhook(
            statuses=[StatusReport(provider_message_id=_one(params, "MessageSid"), provider_status=provider_status,
                                   status=STATUSES.get(provider_status), error_code=_one(params, "ErrorCode"))],
            response=WebhookResponse(204, "text/plain", b""),
        )


PROVIDER = FakeTwilio()
