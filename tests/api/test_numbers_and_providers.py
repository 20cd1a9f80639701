"""Sender numbers and provider accounts over the API."""

from __future__ import annotations

import pytest

from textdesk.messaging.models import ProviderAccount, SenderNumber

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(make_provider_account):
    return make_provider_account(kind="generic", credentials={"api_key": "s3cret-value"})


def test_admin_adds_a_sender_number_in_e164(people, client_for, provider):
    api = client_for(people.admin)
    response = api.post(
        "/sender-numbers",
        {
            "e164": "+5511955550003",
            "name": "Brazil line",
            "number_type": "geo",
            "provider_account_id": provider.pk,
            "owner_team_id": people.team_b.pk,
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["owner_team_id"] == people.team_b.pk


@pytest.mark.parametrize("e164", ["(11) 95555-0003", "+55 11 95555 0003", "+1555", ""])
def test_sender_number_must_be_e164(people, client_for, provider, e164):
    response = client_for(people.admin).post(
        "/sender-numbers",
        {
            "e164": e164,
            "name": "Bad",
            "provider_account_id": provider.pk,
            "owner_user_id": people.seller.pk,
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "e164"]
    assert "E.164" in response.json()["detail"][0]["msg"]
    assert SenderNumber.objects.count() == 0


def test_sender_number_errors(people, client_for, provider, make_sender_number):
    make_sender_number("+14155550001", owner=people.seller, provider_account=provider, name="Taken")
    api = client_for(people.admin)
    base = {
        "e164": "+14155550002",
        "name": "Line",
        "provider_account_id": provider.pk,
        "owner_user_id": people.seller.pk,
    }
    assert api.post("/sender-numbers", {**base, "e164": "+14155550001"}).status_code == 422
    assert api.post("/sender-numbers", {**base, "name": "Taken"}).status_code == 422
    assert api.post("/sender-numbers", {**base, "owner_team_id": people.team_a.pk}).status_code == 422
    assert api.post("/sender-numbers", {**base, "provider_account_id": 999999}).status_code == 422
    assert api.post("/sender-numbers", {**base, "number_type": "satellite"}).status_code == 422
    assert api.get("/sender-numbers/999999").status_code == 404


def test_numbers_seen_and_changed_by_role(people, client_for, provider, make_sender_number):
    own = make_sender_number("+14155550001", owner=people.seller, provider_account=provider)
    mates = make_sender_number("+14155550002", owner=people.mate, provider_account=provider)
    others = make_sender_number("+14155550003", owner=people.team_b, provider_account=provider)
    seller = client_for(people.seller)
    assert [n["id"] for n in seller.get("/sender-numbers").json()["items"]] == [own.pk]
    assert seller.get(f"/sender-numbers/{others.pk}").status_code == 404
    assert seller.patch(f"/sender-numbers/{own.pk}", {"name": "Mine"}).status_code == 403
    assert (
        seller.post(
            "/sender-numbers",
            {
                "e164": "+14155550009",
                "name": "N",
                "provider_account_id": provider.pk,
                "owner_user_id": people.seller.pk,
            },
        ).status_code
        == 403
    )
    manager = client_for(people.manager)
    assert manager.get("/sender-numbers").json()["count"] == 3
    assert manager.patch(f"/sender-numbers/{mates.pk}", {"owner_team_id": people.team_a.pk}).status_code == 200
    assert manager.patch(f"/sender-numbers/{others.pk}", {"name": "Stolen"}).status_code == 403
    admin = client_for(people.admin)
    assert admin.patch(f"/sender-numbers/{others.pk}", {"name": "Renamed", "rate_per_second": 2.5}).status_code == 200
    others.refresh_from_db()
    assert others.name == "Renamed" and others.rate_per_second == 2.5


def test_provider_account_never_shows_credentials(people, client_for):
    api = client_for(people.admin)
    response = api.post(
        "/provider-accounts",
        {
            "kind": "generic",
            "name": "Gateway",
            "options": {"base_url": "http://127.0.0.1:9"},
            "credentials": {"api_key": "top-secret-123", "signing_secret": "sign-secret-456"},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "top-secret-123" not in response.content.decode()
    assert body["credentials_set"] == ["api_key", "signing_secret"]
    account = ProviderAccount.objects.get(pk=body["id"])
    assert body["inbound_url"] == account.inbound_url and account.inbound_key in body["inbound_url"]
    assert body["status_url"].endswith(f"/webhooks/{account.status_key}/status")
    assert account.credentials == {"api_key": "top-secret-123", "signing_secret": "sign-secret-456"}
    assert "top-secret-123" not in account.credentials_encrypted
    listed = api.get("/provider-accounts").content.decode()
    assert "top-secret-123" not in listed and account.inbound_url in listed


def test_provider_account_credentials_are_merged_on_change(people, client_for, make_provider_account):
    account = make_provider_account(kind="twilio", credentials={"account_sid": "AC1", "auth_token": "old"})
    api = client_for(people.admin)
    response = api.patch(f"/provider-accounts/{account.pk}", {"credentials": {"auth_token": "new"}, "description": "x"})
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.credentials == {"account_sid": "AC1", "auth_token": "new"}
    assert "new" not in response.content.decode().replace('"description": "x"', "")


def test_provider_accounts_are_for_provider_managers_only(people, client_for, provider):
    for who in (people.seller, people.manager):
        api = client_for(who)
        assert api.get("/provider-accounts").status_code == 403
        assert api.get(f"/provider-accounts/{provider.pk}").status_code == 403
        assert api.post("/provider-accounts", {"kind": "generic", "name": "X"}).status_code == 403
        assert api.patch(f"/provider-accounts/{provider.pk}", {"name": "X"}).status_code == 403
    assert ProviderAccount.objects.get(pk=provider.pk).name == provider.name


def test_provider_account_errors(people, client_for, provider):
    api = client_for(people.admin)
    assert api.post("/provider-accounts", {"kind": "pigeon", "name": "X"}).status_code == 422
    assert api.post("/provider-accounts", {"kind": "generic", "name": provider.name}).status_code == 422
    assert api.post("/provider-accounts", {"kind": "generic", "name": "Y", "credentials": {"k": 1}}).status_code == 422
    assert api.get("/provider-accounts/999999").status_code == 404
    assert ProviderAccount.objects.count() == 1


def test_provider_credentials_are_checked_against_the_adapter(people, client_for):
    api = client_for(people.admin)
    missing = api.post("/provider-accounts", {"kind": "twilio", "name": "T", "credentials": {"account_sid": "AC1"}})
    assert missing.status_code == 422 and "auth_token" in missing.json()["detail"][0]["msg"]
    unknown = api.post(
        "/provider-accounts",
        {"kind": "twilio", "name": "T", "credentials": {"account_sid": "AC1", "auth_token": "x", "pin": "1"}},
    )
    assert unknown.status_code == 422 and "pin" in unknown.json()["detail"][0]["msg"]
    assert not ProviderAccount.objects.filter(name="T").exists()


def test_changing_the_provider_kind_needs_the_new_kinds_credentials(people, client_for, make_provider_account):
    account = make_provider_account(kind="twilio", credentials={"account_sid": "AC1", "auth_token": "old"})
    api = client_for(people.admin)
    refused = api.patch(f"/provider-accounts/{account.pk}", {"kind": "generic"})
    assert refused.status_code == 422 and "api_key" in refused.json()["detail"][0]["msg"]
    changed = api.patch(
        f"/provider-accounts/{account.pk}", {"kind": "generic", "credentials": {"api_key": "k", "signing_secret": "s"}}
    )
    assert changed.status_code == 200 and changed.json()["credentials_set"] == ["api_key", "signing_secret"]
    account.refresh_from_db()
    assert account.kind == "generic" and account.credentials == {"api_key": "k", "signing_secret": "s"}
