"""The simulator speaks LINK Mobility and Vibes: TextDesk's own adapters send to it, and read the delivery
reports and inbound messages it posts (so the demo can run on either provider)."""

from __future__ import annotations

import httpx
import pytest

from textdesk.providers.base import AccountConfig, OutboundSMS
from textdesk.providers.registry import get_provider

OURS = "+14155550001"
CUSTOMER = "+14155550134"
CREDENTIALS = {
    "link_mobility": {
        "platform_id": "P",
        "platform_partner_id": "1",
        "gate_id": "g",
        "username": "u",
        "password": "pw",
    },
    "vibes": {"username": "u", "password": "pw"},
}


def _host(simulator, sink, kind: str) -> AccountConfig:
    simulator.state.add_number(
        {
            "number": OURS,
            "api": kind,
            "username": "u",
            "password": "pw",
            "sms_url": sink.url + "/webhooks/in/inbound",
            "status_callback": sink.url + "/webhooks/st/status",
        }
    )
    return AccountConfig(
        kind=kind,
        credentials=CREDENTIALS[kind],
        options={"base_url": simulator.url},
        status_url=sink.url + "/webhooks/st/status",
    )


def _send(kind: str, account: AccountConfig, body: str, **credentials):
    if credentials:
        account = AccountConfig(
            kind, {**account.credentials, **credentials}, account.options, status_url=account.status_url
        )
    message = OutboundSMS(from_number=OURS, to_number=CUSTOMER, body=body, idempotency_key="k", client_reference="42")
    with httpx.Client(timeout=10) as client:
        return get_provider(kind).send(account, message, client)


@pytest.mark.parametrize("kind", ["link_mobility", "vibes"])
def test_send_reports_and_inbound_in_the_providers_wire_format(simulator, sink, kind):
    provider = get_provider(kind)
    account = _host(simulator, sink, kind)
    result = _send(kind, account, "Hello from the demo")
    reports = []
    expected = ["sent", "delivered"] if kind == "link_mobility" else ["sending", "sent", "delivered"]
    for received in sink.wait_for(len(expected), "/status"):
        reports += provider.parse_status(account, received.as_webhook()).statuses
    assert [r.status for r in reports] == expected
    assert {r.provider_message_id for r in reports} == {result.provider_message_id}
    assert {r.client_reference for r in reports} == {"42"}

    answer = httpx.post(simulator.url + "/_sim/inbound", json={"from": CUSTOMER, "to": OURS, "body": "Sure, call me"})
    assert answer.status_code == 201
    [posted] = sink.wait_for(1, "/inbound")
    [sms] = provider.parse_inbound(account, posted.as_webhook()).inbound
    assert (sms.from_number, sms.to_number, sms.body) == (CUSTOMER, OURS, "Sure, call me")


def test_a_long_vibes_text_is_reported_part_by_part(simulator, sink):
    provider = get_provider("vibes")
    account = _host(simulator, sink, "vibes")
    result = _send("vibes", account, "x" * 400)
    received = sink.wait_for(9, "/status")
    ids = {r.provider_message_id for x in received for r in provider.parse_status(account, x.as_webhook()).statuses}
    assert ids == set(result.part_ids) == {f"{result.provider_message_id}:{n}" for n in (1, 2, 3)}


@pytest.mark.parametrize("kind", ["link_mobility", "vibes"])
def test_wrong_credentials_are_refused(simulator, sink, kind):
    from textdesk.providers.base import PermanentProviderError

    account = _host(simulator, sink, kind)
    with pytest.raises(PermanentProviderError) as refused:
        _send(kind, account, "hi", password="guess")
    assert refused.value.reason == "ProviderAuthFailed"
    assert not simulator.state.list_messages(direction="outbound")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["link_mobility", "vibes"])
def test_an_account_pointed_at_the_simulator_is_hosted_in_its_own_format(
    simulator, kind, make_sender_number, make_user
):
    from textdesk.demo.simulator import configure_from_database
    from textdesk.messaging.models import ProviderAccount

    account = ProviderAccount(kind=kind, name=f"{kind} demo", options={"base_url": simulator.url})
    account.credentials = CREDENTIALS[kind]
    account.save()
    make_sender_number("+14155550009", owner=make_user("seller"), provider_account=account)
    assert configure_from_database(simulator.state, simulator.url) == 1
    [hosted] = simulator.state.snapshot_numbers()
    assert (hosted["api"], hosted["username"], hosted["sms_url"]) == (kind, "u", account.inbound_url)
