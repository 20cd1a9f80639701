"""Callbacks of providers that sign nothing, protected through the real webhook endpoint: an optional
source-address allow-list (with a trusted proxy's header), optional Basic credentials, and an admin page that
says plainly what protects the URLs."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import httpx
import pytest
from django.urls import reverse

from tests.inbound.conftest import LiveServer

LINK_CREDENTIALS = {"platform_id": "P", "platform_partner_id": "1", "gate_id": "g", "username": "u", "password": "p"}
MO = {
    "messageId": "MO-1",
    "source": "+4791234567",
    "destination": "+4759446000",
    "content": {"type": "TEXT", "userData": "Hei"},
}
VIBES_DLR = (
    b'<?xml version="1.0"?><mtMessageResponse messageId="VB-1" submitterMessageId="1" receiptDate="2026-11-21 14:02:07">'
    b'<multipart isMultipart="false"/><type>Handset</type><status isError="false"/></mtMessageResponse>'
)


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


def _post(server, url: str, body: bytes, content_type: str = "application/json", **headers) -> httpx.Response:
    headers = {"content-type": content_type, **headers}
    return httpx.post(server.url + urlsplit(url).path, content=body, headers=headers, timeout=10)


def _inbound_count() -> int:
    from textdesk.messaging.models import Message

    return Message.objects.filter(direction="inbound").count()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_without_an_allow_list_the_url_key_alone_admits(server, make_provider_account):
    account = make_provider_account(kind="link_mobility", credentials=LINK_CREDENTIALS)
    assert _post(server, account.inbound_url, json.dumps(MO).encode()).status_code == 204
    assert _post(server, account.inbound_url.replace(account.inbound_key, "guess"), b"{}").status_code == 404
    assert _inbound_count() == 1


def test_a_caller_outside_the_allow_list_is_refused_and_nothing_is_stored(server, make_provider_account):
    account = make_provider_account(
        kind="link_mobility", credentials=LINK_CREDENTIALS, options={"allowed_sources": ["10.0.0.0/8"]}
    )
    answer = _post(server, account.inbound_url, json.dumps(MO).encode())
    assert answer.status_code == 403 and "127.0.0.1 is not allowed" in answer.json()["error"]
    assert _inbound_count() == 0


def test_a_caller_on_the_allow_list_is_admitted(server, make_provider_account):
    account = make_provider_account(
        kind="link_mobility", credentials=LINK_CREDENTIALS, options={"allowed_sources": ["127.0.0.1"]}
    )
    assert _post(server, account.inbound_url, json.dumps(MO).encode()).status_code == 204
    assert _inbound_count() == 1


def test_behind_a_trusted_proxy_the_address_it_wrote_counts_and_a_forged_one_does_not(server, make_provider_account):
    from textdesk.messaging.inbound.intake_asgi import account_cache

    options = {"allowed_sources": ["35.155.139.143"], "trusted_proxy_header": "X-Real-IP"}
    account = make_provider_account(kind="vibes", credentials={"username": "u", "password": "p"}, options=options)
    url = account.status_url

    def post(**headers):
        return _post(server, url, VIBES_DLR, "text/xml", **headers)

    # The proxy (this machine, trusted by default) wrote the caller's address.
    ok = post(**{"X-Real-IP": "35.155.139.143"})
    assert ok.status_code == 200, ok.text
    # A caller who writes the allowed address itself is still seen at the address the proxy appended last.
    forged = post(**{"X-Real-IP": "35.155.139.143, 203.0.113.9"})
    assert forged.status_code == 403 and "203.0.113.9" in forged.json()["error"]
    # Without the header setting, the header is not read at all: the peer (127.0.0.1) is not allowed.
    account.options = {"allowed_sources": ["35.155.139.143"]}
    account.save()
    account_cache.clear()
    assert post(**{"X-Real-IP": "35.155.139.143"}).status_code == 403
    # (The web server itself reads X-Forwarded-For from the proxies in FORWARDED_ALLOW_IPS, 127.0.0.1 by default.)
    assert post(**{"X-Forwarded-For": "35.155.139.143"}).status_code == 200
    # A peer that is not one of the trusted proxies cannot speak through the header either.
    account.options = {**options, "trusted_proxies": ["10.9.9.9"]}
    account.save()
    account_cache.clear()
    assert post(**{"X-Real-IP": "35.155.139.143"}).status_code == 403


def test_basic_credentials_on_the_callback_when_configured(server, make_provider_account):
    account = make_provider_account(
        kind="link_mobility",
        credentials={**LINK_CREDENTIALS, "webhook_username": "gate", "webhook_password": "g-pass"},
    )
    body = json.dumps(MO).encode()
    assert _post(server, account.inbound_url, body).status_code == 401
    assert _post(server, account.inbound_url, body, authorization=_basic("gate", "guess")).status_code == 403
    assert _inbound_count() == 0
    assert _post(server, account.inbound_url, body, authorization=_basic("gate", "g-pass")).status_code == 204
    assert _inbound_count() == 1


# ---------------------------------------------------------------- the admin page


@pytest.fixture
def admin_client(make_user):
    from django.test import Client

    from textdesk.org import roles

    client = Client()
    client.force_login(make_user("sysadmin", role=roles.SYSTEM_ADMINISTRATOR, is_staff=True))
    return client


def _form(**overrides):
    return {"kind": "link_mobility", "name": "LINK", "description": "", "options": "{}", "is_active": "on", **overrides}


LINK_FORM = {f"credential__{k}": v for k, v in LINK_CREDENTIALS.items()}


def test_the_admin_form_asks_what_dynamics_asks_for_each_provider(admin_client):
    add = reverse("admin:messaging_provideraccount_add")
    link = admin_client.get(add, {"kind": "link_mobility"}).content.decode()
    for label in ("Platform ID", "Platform partner ID", "Gate ID", "User name", "Password", "Base URL"):
        assert f">{label}" in link, label
    vibes = admin_client.get(add, {"kind": "vibes"}).content.decode()
    for label in ("User name", "Password"):
        assert f">{label}" in vibes, label
    # Vibes publishes the addresses it calls from: a new account starts with them, editable.
    assert "35.155.139.143\n52.32.61.199" in vibes and "54.217.181.160" in vibes


@pytest.mark.django_db
def test_the_admin_page_says_the_provider_does_not_sign_and_what_protects_the_urls(admin_client):
    from textdesk.messaging.models import ProviderAccount

    add = reverse("admin:messaging_provideraccount_add") + "?kind=link_mobility"
    refused = admin_client.post(add, _form(**LINK_FORM, allowed_sources="35.155.139.143\nnot-an-address"))
    assert refused.status_code == 200 and "Not an address or network" in refused.content.decode()
    saved = admin_client.post(
        add,
        _form(
            **LINK_FORM,
            credential__webhook_username="gate",
            credential__webhook_password="g-pass",
            allowed_sources="35.155.139.143, 10.0.0.0/8",
            trusted_proxy_header="X-Forwarded-For",
        ),
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    account = ProviderAccount.objects.get(name="LINK")
    assert account.options == {
        "allowed_sources": ["35.155.139.143", "10.0.0.0/8"],
        "trusted_proxy_header": "X-Forwarded-For",
    }
    page = admin_client.get(reverse("admin:messaging_provideraccount_change", args=[account.pk])).content.decode()
    assert "LINK Mobility does not sign its callbacks." in page
    assert "the unguessable key in each URL" in page
    assert "the Basic credentials set above, required on every call" in page
    assert "only calls from 2 allowed address(es) are accepted" in page

    twilio = ProviderAccount.objects.create(kind="twilio", name="T")
    twilio.credentials = {"account_sid": "AC" + "1" * 32, "auth_token": "t"}
    twilio.save()
    page = admin_client.get(reverse("admin:messaging_provideraccount_change", args=[twilio.pk])).content.decode()
    assert "Twilio signs every callback and TextDesk checks the signature" in page
