"""Multi-part Vonage messages (every part's id), the echoed client reference in delivery reports, ACS's
first-attempt time on resends, and signatures with non-ASCII characters (refused, never an exception)."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import urlencode

import httpx
import pytest

from tests.providers import _recorded as recorded
from tests.providers._fake_api import FakeProviderAPI, fake_api, http_client  # noqa: F401  (pytest fixtures)
from tests.providers._fake_api_rest import load_cases, webhook_request
from tests.providers.helpers import twilio_account
from tests.providers.test_acs import MESSAGE as ACS_MESSAGE
from tests.providers.test_acs import _accepted, account_at
from tests.providers.test_vonage import account as vonage_account
from tests.providers.test_vonage import outbound as vonage_outbound
from textdesk.providers import acs, generic, infobip, messagebird, telesign, vonage
from textdesk.providers.base import AccountConfig, OutboundSMS, OutcomeUnknownError, WebhookRejected, WebhookRequest
from textdesk.providers.twilio import PROVIDER as TWILIO

PART_IDS = ("0C000000217B7F02", "0C000000217B7F03")


# ---------------------------------------------------------------- Vonage: one id and one receipt per part


def test_a_two_part_send_returns_the_first_id_and_every_part_id(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("vonage", "send_ok_two_parts"))
    result = vonage.PROVIDER.send(vonage_account(base_url=fake_api.url), vonage_outbound("x" * 200), http_client)
    assert (result.provider_message_id, result.part_ids, result.segments) == (PART_IDS[0], PART_IDS, 2)


def test_a_one_part_send_lists_its_one_id(fake_api, http_client):
    fake_api.answer_recorded(recorded.load("vonage", "send_ok"))
    result = vonage.PROVIDER.send(vonage_account(base_url=fake_api.url), vonage_outbound(), http_client)
    assert result.part_ids == (result.provider_message_id,) == ("0C000000217B7F02",)


def test_an_accepted_part_without_a_message_id_leaves_the_outcome_unknown(fake_api, http_client):
    answer = recorded.load("vonage", "send_ok_two_parts")
    del answer["body"]["messages"][1]["message-id"]
    fake_api.answer_recorded(answer)
    with pytest.raises(OutcomeUnknownError):
        vonage.PROVIDER.send(vonage_account(base_url=fake_api.url), vonage_outbound("x" * 200), http_client)


def test_each_part_receipt_names_its_part_and_our_reference():
    fixture = recorded.load("vonage", "dlr_delivered")
    reports = []
    for part_id, part_status in zip(PART_IDS, ("delivered", "failed")):
        body = urlencode(
            {
                "msisdn": "447700900000",
                "to": "AcmeInc",
                "messageId": part_id,
                "status": part_status,
                "err-code": "0" if part_status == "delivered" else "5",
                "client-ref": "td-42",
                "message-timestamp": "2020-01-01 12:00:00",
            }
        ).encode()
        [report] = vonage.PROVIDER.parse_status(vonage_account(), recorded.as_request(fixture, body=body)).statuses
        reports.append(report)
    assert [(r.provider_message_id, r.status, r.client_reference) for r in reports] == [
        (PART_IDS[0], "delivered", "td-42"),
        (PART_IDS[1], "undelivered", "td-42"),
    ]


def test_a_receipt_without_a_reference_has_an_empty_one():
    fixture = recorded.load("vonage", "dlr_delivered")
    [report] = vonage.PROVIDER.parse_status(vonage_account(), recorded.as_request(fixture)).statuses
    assert report.client_reference == ""


def test_messages_api_status_carries_our_client_ref():
    fixture = recorded.load("vonage", "messages_status_delivered")
    [report] = vonage.PROVIDER.parse_status(vonage_account("messages"), recorded.as_request(fixture)).statuses
    assert report.client_reference == "td-42"


# ---------------------------------------------------------------- the reference in other providers' reports


@pytest.mark.parametrize("provider", [acs, infobip, telesign, messagebird], ids=lambda m: m.__name__.rsplit(".")[-1])
def test_recorded_reports_carry_the_reference_we_sent(provider):
    """Every recorded delivery report that echoes our reference (msg-42) hands it on; the others have none."""
    name = provider.__name__.rsplit(".")[-1]
    checked = 0
    for _, case in load_cases(name):
        if "request" not in case or "statuses" not in case["expect"]:
            continue
        request = webhook_request(case)
        parse = provider.PROVIDER.parse_inbound if case["parser"] == "inbound" else provider.PROVIDER.parse_status
        echoed = "msg-42" in request.url or b"msg-42" in request.body
        for report in parse(None, request).statuses:
            assert report.client_reference == ("msg-42" if echoed else ""), case["name"]
            checked += echoed
    assert checked, f"no {name} fixture echoes a reference"


# ---------------------------------------------------------------- ACS: the first attempt's time on every resend


def _first_sent(received) -> str:
    return received.json()["smsRecipients"][0]["repeatabilityFirstSent"]


def test_acs_sends_the_first_attempts_time_on_every_resend():
    first_attempt = dt.datetime(2026, 11, 21, 21, 5, 7, tzinfo=dt.UTC)
    resend = OutboundSMS(**{**ACS_MESSAGE.__dict__, "first_attempted_at": first_attempt})
    api = FakeProviderAPI().start()
    try:
        api.answer(202, _accepted())
        api.answer(
            202,
            {
                "value": [
                    {
                        "to": "+15555555555",
                        "messageId": "Outgoing_1",
                        "httpStatusCode": 202,
                        "repeatabilityResult": "rejected",
                        "successful": False,
                    }
                ]
            },
        )
        with httpx.Client(timeout=5) as client:
            first = acs.PROVIDER.send(account_at(api.url), resend, client)
            again = acs.PROVIDER.send(account_at(api.url), resend, client)
        assert first.provider_message_id == again.provider_message_id == "Outgoing_1"
        assert [_first_sent(r) for r in api.received] == ["Sat, 21 Nov 2026 21:05:07 GMT"] * 2
        # The request is still signed with this attempt's own date.
        assert all(r.headers["x-ms-date"] != "Sat, 21 Nov 2026 21:05:07 GMT" for r in api.received)
    finally:
        api.stop()


def test_acs_reads_a_first_attempt_time_in_another_zone_or_without_one():
    zoned = dt.datetime(2026, 11, 21, 23, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    naive = dt.datetime(2026, 11, 21, 21, 5, 7)
    api = FakeProviderAPI().start()
    try:
        with httpx.Client(timeout=5) as client:
            for when in (zoned, naive):
                api.answer(202, _accepted())
                acs.PROVIDER.send(
                    account_at(api.url), OutboundSMS(**{**ACS_MESSAGE.__dict__, "first_attempted_at": when}), client
                )
        assert [_first_sent(r) for r in api.received] == ["Sat, 21 Nov 2026 21:05:07 GMT"] * 2
    finally:
        api.stop()


# ---------------------------------------------------------------- non-ASCII signatures are refused, not errors


def test_generic_refuses_a_signature_with_non_ascii_characters():
    body = b'{"id": "in-1", "from": "+15555550100", "to": "+15555550101", "body": "hi"}'
    headers = {k.lower(): v for k, v in generic.signed_headers("secret", body).items()}
    headers["x-textdesk-signature"] = "é" * 64
    account = AccountConfig(kind="generic", credentials={"signing_secret": "secret"})
    with pytest.raises(WebhookRejected) as caught:
        generic.PROVIDER.verify(
            account, WebhookRequest("POST", "https://td.example.com/w", headers, body), dt.datetime.now(dt.UTC)
        )
    assert caught.value.status == 403


def test_twilio_refuses_a_body_hash_with_non_ascii_characters():
    body = b'{"MessageSid": "SM1"}'
    url = "https://textdesk.example.com/webhooks/k1/status?bodySHA256=%C3%A9" + hashlib.sha256(body).hexdigest()[2:]
    request = WebhookRequest("POST", url, {"content-type": "application/json", "x-twilio-signature": "x"}, body)
    with pytest.raises(WebhookRejected) as caught:
        TWILIO.verify(twilio_account("token"), request)
    assert caught.value.status == 403
