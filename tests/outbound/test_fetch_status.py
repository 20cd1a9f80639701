"""Asking a provider for a sent message's status (for the sweeper's reconciliation), over real HTTP."""

from __future__ import annotations

from tests.providers._fake_api import fake_api, http_client  # noqa: F401  (pytest fixtures)
from textdesk.domain import failures
from textdesk.domain import status as st
from textdesk.providers.base import AccountConfig
from textdesk.providers.generic import PROVIDER as GENERIC
from textdesk.providers.twilio import PROVIDER as TWILIO

SID = "AC" + "3" * 32
MESSAGE_SID = "SM" + "9" * 32


def _twilio(url: str) -> AccountConfig:
    return AccountConfig("twilio", {"account_sid": SID, "auth_token": "tok"}, {"base_url": url})


def test_twilio_answers_with_its_message_resource(fake_api, http_client):
    fake_api.answer(
        200,
        {"sid": MESSAGE_SID, "status": "undelivered", "error_code": 30003, "error_message": "Unreachable handset"},
    )
    report = TWILIO.fetch_status(_twilio(fake_api.url), MESSAGE_SID, http_client)
    [request] = fake_api.received
    assert (request.method, request.path) == ("GET", f"/2010-04-01/Accounts/{SID}/Messages/{MESSAGE_SID}.json")
    assert request.headers["authorization"].startswith("Basic ")
    assert (report.provider_message_id, report.status, report.provider_status) == (
        MESSAGE_SID,
        st.UNDELIVERED,
        "undelivered",
    )
    assert report.error_code == "30003" and report.failure_reason == failures.UNREACHABLE_DESTINATION


def test_twilio_unknown_message_is_none_and_a_still_sent_one_is_not_final(fake_api, http_client):
    fake_api.answer(404, {"code": 20404, "message": "not found"})
    assert TWILIO.fetch_status(_twilio(fake_api.url), MESSAGE_SID, http_client) is None
    fake_api.answer(200, {"sid": MESSAGE_SID, "status": "sent"})
    report = TWILIO.fetch_status(_twilio(fake_api.url), MESSAGE_SID, http_client)
    assert report.status == st.SENT and not st.is_final(report.status)


def test_generic_gateway_answers_like_its_delivery_report(fake_api, http_client):
    account = AccountConfig("generic", {"api_key": "k", "signing_secret": "s"}, {"base_url": fake_api.url})
    fake_api.answer(200, {"id": "gw-1", "status": "delivered"})
    report = GENERIC.fetch_status(account, "gw-1", http_client)
    [request] = fake_api.received
    assert (request.method, request.path, request.headers["authorization"]) == ("GET", "/messages/gw-1", "Bearer k")
    assert report.status == st.DELIVERED
    fake_api.answer(404, {"code": "not_found"})
    assert GENERIC.fetch_status(account, "gw-2", http_client) is None
