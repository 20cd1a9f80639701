"""The Twilio adapter sending over real HTTP to the simulator, and the official SDK proving wire compatibility."""

from __future__ import annotations

import socket

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.providers.helpers import twilio_account
from textdesk.domain import failures
from textdesk.providers.base import (
    OutboundSMS,
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
)
from textdesk.providers.twilio import PROVIDER

SID = "AC" + "7" * 32
TOKEN = "simulator-token-1"
OURS = "+14155550001"
CUSTOMER = "+14155550134"


@pytest.fixture
def account(simulator):
    simulator.state.add_number({"number": OURS, "account_sid": SID, "auth_token": TOKEN})
    return twilio_account(TOKEN, sid=SID, base_url=simulator.url)


def message(to=CUSTOMER, body="Your quote is attached."):
    return OutboundSMS(from_number=OURS, to_number=to, body=body, idempotency_key="m-1")


def sent_messages(simulator):
    return httpx.get(simulator.url + "/_sim/messages", params={"direction": "outbound"}).json()


def test_send_success(simulator, account):
    with httpx.Client(timeout=5) as client:
        result = PROVIDER.send(account, message(body="ç" * 71), client)
    assert result.provider_message_id.startswith("SM") and len(result.provider_message_id) == 34
    assert (result.status, result.provider_status, result.segments) == ("queued", "queued", 2)
    [recorded] = sent_messages(simulator)
    assert (recorded["sid"], recorded["to"], recorded["body"]) == (result.provider_message_id, CUSTOMER, "ç" * 71)


def test_the_pipelined_send_posts_the_same_form(simulator, account):
    """``send_async`` (aiohttp, the pipelined send path) reaches Twilio's wire format exactly as ``send``: a
    urlencoded form, its characters intact (a ``+``, an ``&``, accents) and Basic authorization."""
    import asyncio

    import aiohttp

    body = "Preço: 10 + 5 & ç/é = ok?"

    async def send():
        async with aiohttp.ClientSession() as session:
            return await PROVIDER.send_async(account, message(body=body), session)

    result = asyncio.run(send())
    [recorded] = sent_messages(simulator)
    assert (recorded["sid"], recorded["to"], recorded["body"]) == (result.provider_message_id, CUSTOMER, body)


def test_invalid_to_is_21211(simulator, account):
    with httpx.Client(timeout=5) as client, pytest.raises(PermanentProviderError) as caught:
        PROVIDER.send(account, message(to="+1 415 555"), client)
    assert (caught.value.reason, caught.value.code) == (failures.INVALID_SENDING_PARAMETERS, "21211")
    assert sent_messages(simulator) == []


def test_opted_out_customer_is_21610(simulator, account):
    answer = httpx.post(simulator.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": "stop"})
    assert answer.status_code == 201
    with httpx.Client(timeout=5) as client, pytest.raises(PermanentProviderError) as caught:
        PROVIDER.send(account, message(), client)
    assert (caught.value.reason, caught.value.code, caught.value.opt_out) == (
        failures.RECIPIENT_OPTED_OUT,
        "21610",
        True,
    )
    httpx.post(simulator.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": "START"})
    with httpx.Client(timeout=5) as client:
        assert PROVIDER.send(account, message(), client).status == "queued"


def test_wrong_auth_token_is_20003(simulator, account):
    wrong = twilio_account("not-the-token", sid=SID, base_url=simulator.url)
    with httpx.Client(timeout=5) as client, pytest.raises(PermanentProviderError) as caught:
        PROVIDER.send(wrong, message(), client)
    assert (caught.value.reason, caught.value.code) == (failures.PROVIDER_AUTH_FAILED, "20003")


@pytest.mark.parametrize("http_status", [500, 503])
def test_5xx_is_retryable(simulator, account, http_status):
    simulator.state.add_rule({"to_pattern": "+1415555013*", "http_status": http_status, "times": 1})
    with httpx.Client(timeout=5) as client:
        with pytest.raises(RetryableProviderError) as caught:
            PROVIDER.send(account, message(), client)
        assert caught.value.reason == failures.PROVIDER_UNAVAILABLE
        assert PROVIDER.send(account, message(), client).status == "queued"  # the rule was used up
    assert len(sent_messages(simulator)) == 1


def test_rate_limit_rule_is_retryable(simulator, account):
    simulator.state.add_rule({"error_code": 20429, "times": 1})
    with httpx.Client(timeout=5) as client, pytest.raises(RetryableProviderError) as caught:
        PROVIDER.send(account, message(), client)
    assert (caught.value.reason, caught.value.code) == (failures.RATE_LIMITED, "20429")


def test_slow_answer_is_outcome_unknown(simulator, account):
    simulator.state.add_rule({"delay": 1.0, "times": 1})
    with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as client, pytest.raises(OutcomeUnknownError):
        PROVIDER.send(account, message(), client)


def test_nothing_listening_is_retryable(account):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    closed = twilio_account(TOKEN, sid=SID, base_url=f"http://127.0.0.1:{free_port}")
    with httpx.Client(timeout=5) as client, pytest.raises(RetryableProviderError) as caught:
        PROVIDER.send(closed, message(), client)
    assert caught.value.reason == failures.PROVIDER_UNAVAILABLE


def test_official_sdk_client_sends_through_the_simulator(simulator, account):
    client = Client(SID, TOKEN)
    client.api.base_url = simulator.url
    created = client.messages.create(to=CUSTOMER, from_=OURS, body="Sent by the official SDK")
    assert created.sid.startswith("SM") and created.status == "queued" and created.num_segments == "1"
    assert created.date_created is not None
    fetched = client.messages(created.sid).fetch()
    assert fetched.body == "Sent by the official SDK"
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to="12", from_=OURS, body="x")
    assert (caught.value.status, caught.value.code) == (400, 21211)
    bad = Client(SID, "wrong")
    bad.api.base_url = simulator.url
    with pytest.raises(TwilioRestException) as caught:
        bad.messages.create(to=CUSTOMER, from_=OURS, body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert [m["body"] for m in sent_messages(simulator)] == ["Sent by the official SDK"]


@pytest.mark.parametrize(
    "rule",
    [
        {"error_code": 21211},  # an invalid number: permanent, Twilio's code and text
        {"error_code": 20429},  # Twilio's rate limit: retryable
        {"http_status": 503},  # the provider is away: retryable, the HTTP reason as text
        {"http_status": 504},  # a gateway gave up: the outcome is unknown
        {"error_code": 20003},  # our credentials refused
    ],
    ids=["21211", "20429", "503", "504", "20003"],
)
def test_the_pipelined_send_reads_a_refusal_as_send_does(simulator, account, rule):
    """The pipelined path reads aiohttp's answer without an ``httpx.Response``: every refusal still becomes the
    same error (kind, reason, code, text, retry-after) as through ``send``."""
    import asyncio

    import aiohttp

    async def send_async():
        async with aiohttp.ClientSession() as session:
            return await PROVIDER.send_async(account, message(), session)

    def error_of(send) -> tuple:
        simulator.state.add_rule({**rule, "times": 1})
        with pytest.raises(Exception) as caught:
            send()
        error = caught.value
        return type(error), error.reason, error.code, error.text, error.retry_after

    with httpx.Client(timeout=5) as client:
        through_send = error_of(lambda: PROVIDER.send(account, message(), client))
    through_pipeline = error_of(lambda: asyncio.run(send_async()))
    assert through_pipeline == through_send
    assert through_send[0] in (PermanentProviderError, RetryableProviderError, OutcomeUnknownError)
