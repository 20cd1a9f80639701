"""Malformed Twilio webhooks get a precise 4xx, never an exception of another kind."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.providers.helpers import twilio_account
from textdesk.providers.base import WebhookRejected, WebhookRequest
from textdesk.providers.twilio import PROVIDER

ACCOUNT = twilio_account("token")
FORM = {"content-type": "application/x-www-form-urlencoded"}
COMPLETE = {"MessageSid": "SM1", "From": "+14155550134", "To": "+14155550001", "Body": "hi"}


def post(params: dict | bytes, headers=FORM) -> WebhookRequest:
    body = params if isinstance(params, bytes) else urlencode(params).encode()
    return WebhookRequest("POST", "https://textdesk.example.com/webhooks/k/inbound", headers, body)


@pytest.mark.parametrize("missing", ["MessageSid", "From", "To"])
def test_inbound_without_a_required_field_is_400(missing):
    params = {k: v for k, v in COMPLETE.items() if k != missing}
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.parse_inbound(ACCOUNT, post(params))
    assert (caught.value.status, caught.value.reason) == (400, f"missing {missing}")


def test_inbound_with_blank_required_fields_names_them_all():
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.parse_inbound(ACCOUNT, post({**COMPLETE, "From": " ", "To": ""}))
    assert caught.value.reason == "missing From, To"


@pytest.mark.parametrize(
    "request_, status",
    [
        (post(b"Body=%FF%FE&MessageSid=SM1"), 400),
        (post({**COMPLETE, "NumSegments": "two"}), 400),
        (post(b'{"MessageSid": "SM1"}', {"content-type": "application/json"}), 415),
    ],
)
def test_unreadable_inbound(request_, status):
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.parse_inbound(ACCOUNT, request_)
    assert caught.value.status == status


def test_status_without_message_status_is_400():
    with pytest.raises(WebhookRejected) as caught:
        PROVIDER.parse_status(ACCOUNT, post({"MessageSid": "SM1"}))
    assert (caught.value.status, caught.value.reason) == (400, "missing MessageStatus")


def test_unknown_status_value_is_kept_but_carries_no_news():
    [report] = PROVIDER.parse_status(ACCOUNT, post({"MessageSid": "SM1", "MessageStatus": "teleported"})).statuses
    assert (report.provider_status, report.status) == ("teleported", None)


def test_failure_with_unmapped_error_code_reads_as_unknown():
    [report] = PROVIDER.parse_status(
        ACCOUNT, post({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "39999"})
    ).statuses
    assert (report.status, report.failure_reason, report.error_code) == ("undelivered", "Unknown", "39999")
