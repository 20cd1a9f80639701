"""Admin forms: provider credentials (write-only, encrypted), sender number E.164, users' staff flag."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from textdesk.messaging.models import ProviderAccount, SenderNumber
from textdesk.org import roles
from textdesk.org.models import User
from textdesk.providers import registry

pytestmark = pytest.mark.django_db


SID = "AC" + "1" * 32


def _provider_post(**overrides):
    return {"kind": "twilio", "name": "Twilio main", "description": "", "options": "{}", "is_active": "on", **overrides}


def test_provider_form_shows_the_adapters_credential_fields(admin_client):
    page = admin_client.get(reverse("admin:messaging_provideraccount_add"), {"kind": "twilio"}).content.decode()
    assert 'name="credential__account_sid"' in page and 'name="credential__auth_token"' in page
    assert 'type="password"' in page and 'name="credentials_json"' not in page
    other = admin_client.get(reverse("admin:messaging_provideraccount_add"), {"kind": "generic"}).content.decode()
    assert 'name="credential__api_key"' in other and 'name="credential__account_sid"' not in other


def test_provider_form_encrypts_and_never_shows_secrets(admin_client):
    url = reverse("admin:messaging_provideraccount_add")
    response = admin_client.post(
        url + "?kind=twilio", _provider_post(credential__account_sid=SID, credential__auth_token="pa55-secret-word")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    account = ProviderAccount.objects.get(name="Twilio main")
    assert account.credentials == {"account_sid": SID, "auth_token": "pa55-secret-word"}
    assert "pa55-secret-word" not in account.credentials_encrypted
    page = admin_client.get(reverse("admin:messaging_provideraccount_change", args=[account.pk])).content.decode()
    assert "pa55-secret-word" not in page
    assert account.inbound_url in page and account.status_url in page
    assert "Leave empty to keep it" in page
    assert f'value="{SID}"' in page  # not a secret: shown for editing


def test_provider_form_keeps_secret_left_empty_and_replaces_given_one(admin_client, make_provider_account):
    account = make_provider_account(
        kind="twilio", name="Twilio main", credentials={"account_sid": SID, "auth_token": "old-secret"}
    )
    url = reverse("admin:messaging_provideraccount_change", args=[account.pk])
    other_sid = "AC" + "2" * 32
    assert (
        admin_client.post(url, _provider_post(credential__account_sid=other_sid, credential__auth_token="")).status_code
        == 302
    )
    account.refresh_from_db()
    assert account.credentials == {"account_sid": other_sid, "auth_token": "old-secret"}
    assert (
        admin_client.post(
            url, _provider_post(credential__account_sid=other_sid, credential__auth_token="new-secret")
        ).status_code
        == 302
    )
    account.refresh_from_db()
    assert account.credentials == {"account_sid": other_sid, "auth_token": "new-secret"}


def test_changing_the_provider_asks_for_the_new_providers_credentials(admin_client, make_provider_account):
    account = make_provider_account(
        kind="twilio", name="Twilio main", credentials={"account_sid": SID, "auth_token": "old-secret"}
    )
    url = reverse("admin:messaging_provideraccount_change", args=[account.pk])
    response = admin_client.post(url, _provider_post(kind="generic"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="credential__api_key"' in page and "This field is required" in page
    account.refresh_from_db()
    assert account.kind == "twilio" and account.credentials["auth_token"] == "old-secret"


def test_provider_form_requires_required_credentials(admin_client):
    response = admin_client.post(
        reverse("admin:messaging_provideraccount_add") + "?kind=twilio", _provider_post(credential__account_sid=SID)
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not ProviderAccount.objects.exists()


def test_provider_form_falls_back_to_json_without_an_adapter(admin_client, monkeypatch):
    monkeypatch.setitem(registry.MODULES, "generic", "textdesk.providers.no_such_adapter_module")
    url = reverse("admin:messaging_provideraccount_add")
    page = admin_client.get(url, {"kind": "generic"}).content.decode()
    assert 'name="credentials_json"' in page
    bad = admin_client.post(url, _provider_post(kind="generic", credentials_json="{not json"))
    assert bad.status_code == 200 and "Not valid JSON" in bad.content.decode()
    ok = admin_client.post(url, _provider_post(kind="generic", credentials_json='{"api_key": "k-123-secret"}'))
    assert ok.status_code == 302
    account = ProviderAccount.objects.get()
    assert account.credentials == {"api_key": "k-123-secret"}
    page = admin_client.get(reverse("admin:messaging_provideraccount_change", args=[account.pk])).content.decode()
    assert "k-123-secret" not in page


def _number_post(provider, owner, **overrides):
    return {
        "e164": "+5511955550003",
        "name": "Brazil line",
        "number_type": "geo",
        "provider_account": provider.pk,
        "owner_user": owner.pk,
        "owner_team": "",
        "rate_per_second": "",
        "is_active": "on",
        **overrides,
    }


def test_sender_number_form_requires_e164(admin_client, make_provider_account, make_user):
    provider, owner = make_provider_account(), make_user("owner1")
    url = reverse("admin:messaging_sendernumber_add")
    bad = admin_client.post(url, _number_post(provider, owner, e164="(11) 95555-0003"))
    assert bad.status_code == 200 and "E.164" in bad.content.decode()
    assert not SenderNumber.objects.exists()
    both = admin_client.post(url, _number_post(provider, owner, owner_team=_team().pk))
    assert both.status_code == 200 and "exactly one owner" in both.content.decode()
    ok = admin_client.post(url, _number_post(provider, owner))
    assert ok.status_code == 302
    assert SenderNumber.objects.get().e164 == "+5511955550003"


def _team():
    from textdesk.org.models import Team

    return Team.objects.get_or_create(name="Any team")[0]


def test_giving_the_administrator_role_in_the_admin_grants_staff(admin_client, make_user):
    user = make_user("promoted")
    group = Group.objects.get(name=roles.SYSTEM_ADMINISTRATOR)
    url = reverse("admin:org_user_change", args=[user.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        {
            "groups": [group.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "Team_members-TOTAL_FORMS": "0",
            "Team_members-INITIAL_FORMS": "0",
        }
    )
    data.pop("last_login", None)
    data = {k: v for k, v in data.items() if v is not False}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert User.objects.get(pk=user.pk).is_staff is True


def test_admin_adds_a_user_through_the_add_form(admin_client):
    response = admin_client.post(
        reverse("admin:org_user_add"),
        {
            "username": "newseller",
            "password1": "a-Long-passw0rd",
            "password2": "a-Long-passw0rd",
            "usable_password": "true",
            "Team_members-TOTAL_FORMS": "0",
            "Team_members-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="newseller")
    assert user.check_password("a-Long-passw0rd") and not user.is_staff


def test_every_provider_kind_gets_its_own_credential_form(admin_client):
    from textdesk.messaging.actions.providers import credential_fields
    from textdesk.messaging.models import ProviderKind

    for kind in ProviderKind.values:
        page = admin_client.get(reverse("admin:messaging_provideraccount_add"), {"kind": kind}).content.decode()
        fields = credential_fields(kind)
        assert fields, kind
        for spec in fields:
            assert f'name="credential__{spec.name}"' in page, (kind, spec.name)
