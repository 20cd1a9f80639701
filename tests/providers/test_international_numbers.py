"""Vonage and Plivo write customers as international digits without "+" (5511987650001). Posted in each
provider's recorded payload shape to the real webhook endpoint, a message from a Brazilian, Italian, Spanish
or US customer is stored with the customer's E.164 number and routed to the existing contact holding it
(never to a new lead named after the digits)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from tests.inbound.conftest import LiveServer
from tests.providers import _recorded as recorded

CUSTOMERS = ["+5511987650001", "+393471234567", "+34612345678", "+14155550100"]
VONAGE_SECRET = "signature-secret-0123456789abcdefghij"
PLIVO_TOKEN = "plivo-auth-token-0123456789"
PLIVO_NONCE = "05429567804466091622"


@pytest.fixture
def server(transactional_db, monkeypatch):
    from django.db import connections

    from textdesk.messaging.inbound.intake_asgi import account_cache

    account_cache.clear()
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    live = LiveServer()
    live.start()
    yield live
    live.stop()
    account_cache.clear()


def _recorded_params(provider: str, fixture: str) -> dict[str, str]:
    return dict(parse_qsl(recorded.load(provider, fixture)["body"], keep_blank_values=True))


def vonage_post(account, customer: str, ours: str, message_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """The recorded Vonage SMS API inbound form, with the customer's digits, signed by Vonage's own SDK."""
    from vonage_http_client import Auth

    params = _recorded_params("vonage", "inbound_post_form")
    params.update({"msisdn": customer.removeprefix("+"), "to": ours.removeprefix("+"), "messageId": message_id})
    params.pop("sig", None)
    signer = Auth(api_key=params["api-key"], signature_secret=VONAGE_SECRET, signature_method="sha256")
    params["sig"] = signer.sign_params(params)
    return params, {}


def plivo_post(account, customer: str, ours: str, message_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """The recorded Plivo inbound form, with the customer's digits, signed (V3) by Plivo's own SDK."""
    from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

    params = _recorded_params("plivo", "inbound_form")
    params.update({"From": customer.removeprefix("+"), "To": ours.removeprefix("+"), "MessageUUID": message_id})
    base = construct_post_url(account.inbound_url, params)
    signature = get_signature_v3(PLIVO_TOKEN.encode(), base.decode(), PLIVO_NONCE.encode()).decode()
    return params, {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": PLIVO_NONCE}


PROVIDERS = {
    "vonage": (
        {"api_key": "abcd1234", "api_secret": "api-secret", "signature_secret": VONAGE_SECRET},
        {"api": "sms", "signature_method": "sha256"},
        vonage_post,
    ),
    "plivo": ({"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": PLIVO_TOKEN}, {}, plivo_post),
}


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_international_digits_route_to_the_contact_holding_the_number(
    kind, server, make_user, make_provider_account, make_sender_number, make_record
):
    from textdesk.crm.models import Lead
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.models import Message

    credentials, options, post = PROVIDERS[kind]
    seller = make_user("seller")
    account = make_provider_account(kind=kind, credentials=credentials, options=options)
    ours = make_sender_number("+14155550123", owner=seller, provider_account=account)
    contacts = {n: make_record("contact", seller, mobile_phone=n, last_name=f"Customer {n}") for n in CUSTOMERS}

    for index, customer in enumerate(CUSTOMERS):
        params, headers = post(account, customer, ours.e164, f"{kind}-msg-{index}")
        answer = httpx.post(
            server.url + urlsplit(account.inbound_url).path,
            content=urlencode(params).encode(),
            headers={"content-type": "application/x-www-form-urlencoded", **headers},
            timeout=10,
        )
        assert answer.status_code in (200, 204), answer.text
    route_pending()

    for index, customer in enumerate(CUSTOMERS):
        message = Message.objects.select_related("conversation").get(provider_message_id=f"{kind}-msg-{index}")
        assert (message.from_number, message.to_number) == (customer, ours.e164)
        assert message.routing_state == "routed"
        assert message.conversation.contact_id == contacts[customer].pk, customer
        assert message.conversation.customer_e164 == customer
    assert not Lead.objects.exists()
