"""Twilio webhooks and API answers recorded as fixtures (built from Twilio's documented examples)."""

from __future__ import annotations

import httpx
import pytest
from twilio.rest.api.v2010.account.message import MessageInstance

from tests.providers._recorded import FIXTURES
from tests.providers._recorded import load as load_fixture
from tests.providers.helpers import fixture_request, twilio_account
from textdesk.domain import failures
from textdesk.providers import base
from textdesk.providers.twilio import ERROR_MAP, PROVIDER, STATUS_MAP

INBOUND = [
    "inbound_basic",
    "inbound_get",
    "inbound_long_unicode",
    "inbound_opt_out_stop",
    "inbound_opt_in_start",
    "inbound_help",
]
TWILIO_STATUSES = [value for name, value in vars(MessageInstance.Status).items() if not name.startswith("_")]
STATUS = [f"status_{value}" for value in TWILIO_STATUSES]
ASYNC_ERRORS = [
    f"status_error_{code}"
    for code in (21610, 30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30022, 30032, 30034)
]
SEND = ["send_created", "send_error_http_500", "send_error_http_503_html"] + [
    f"send_error_{code}"
    for code in (20003, 20429, 21211, 21408, 21602, 21603, 21606, 21608, 21610, 21612, 21614, 21617, 21635)
]


@pytest.mark.parametrize("name", INBOUND)
def test_inbound_fixture_verifies_and_parses(name):
    recorded = load_fixture("twilio", name)
    account = twilio_account(recorded["auth_token"])
    request = fixture_request(recorded)
    PROVIDER.verify(account, request, request.received_at)
    parsed = PROVIDER.parse_inbound(account, request)
    [message] = parsed.inbound
    expected = recorded["expect"]
    assert message.provider_message_id == expected["provider_message_id"]
    assert (message.from_number, message.to_number) == (expected["from_number"], expected["to_number"])
    assert message.body == expected["body"]
    assert message.segments == expected["segments"]
    assert message.opt_signal == expected["opt_signal"]
    assert parsed.response == base.WebhookResponse(
        200, "text/xml", b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    )


@pytest.mark.parametrize("name", STATUS + ASYNC_ERRORS)
def test_status_fixture_verifies_and_parses(name):
    recorded = load_fixture("twilio", name)
    account = twilio_account(recorded["auth_token"])
    request = fixture_request(recorded)
    PROVIDER.verify(account, request, request.received_at)
    parsed = PROVIDER.parse_status(account, request)
    [report] = parsed.statuses
    expected = recorded["expect"]
    for field_name, value in expected.items():
        assert getattr(report, field_name) == value, field_name
    if report.status in ("failed", "undelivered"):
        assert report.failure_reason in failures.REASONS
    else:
        assert report.failure_reason == ""
    assert parsed.response.status == 204


@pytest.mark.parametrize("name", SEND)
def test_send_against_recorded_answer(name, replay):
    recorded = load_fixture("twilio", name)
    answer = recorded["response"]
    replay.status, replay.headers, replay.body = answer["status"], answer["headers"], answer["body"]
    account = twilio_account("secret-token", base_url=replay.url)
    message = base.OutboundSMS(
        from_number="+14155550001",
        to_number="+14155550134",
        body="Hi Alice",
        idempotency_key="msg-1",
        status_callback_url="https://textdesk.example.com/cb",
    )
    expected = recorded["expect"]
    with httpx.Client(timeout=5) as client:
        if "result" in expected:
            result = PROVIDER.send(account, message, client)
            assert result == base.SendResult(**expected["result"])
        else:
            with pytest.raises(base.ProviderError) as caught:
                PROVIDER.send(account, message, client)
            error = caught.value
            assert type(error).__name__ == expected["error"]
            assert (error.reason, error.code, error.opt_out) == (
                expected["reason"],
                expected["code"],
                expected["opt_out"],
            )
            if answer["status"] == 429:
                assert error.retry_after == 2.0
    [request] = replay.requests
    assert request.url == replay.url + "/2010-04-01/Accounts/AC5ef872f6da5a21de157d80997a64bd33/Messages.json"
    assert request.headers["authorization"].startswith("Basic ")
    form = httpx.QueryParams(request.body.decode())
    assert dict(form) == {
        "To": "+14155550134",
        "From": "+14155550001",
        "Body": "Hi Alice",
        "StatusCallback": "https://textdesk.example.com/cb",
    }


def test_every_fixture_file_is_used():
    listed = set(INBOUND) | set(STATUS) | set(ASYNC_ERRORS) | set(SEND)
    on_disk = {path.stem for path in (FIXTURES / "twilio").glob("*.json")}
    assert on_disk == listed


def test_every_twilio_status_is_mapped():
    assert set(TWILIO_STATUSES) == set(STATUS_MAP)
    assert len(TWILIO_STATUSES) == 13


def test_every_mapped_error_code_has_a_fixture():
    covered = {int(name.rsplit("_", 1)[1]) for name in SEND + ASYNC_ERRORS if name.rsplit("_", 1)[1].isdigit()}
    assert set(ERROR_MAP) <= covered
    assert all(meaning.reason in failures.REASONS for meaning in ERROR_MAP.values())
