"""Every admin page opens for a System Administrator and stays closed to sellers."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from textdesk.messaging.models import Message, MessageEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def some_of_everything(make_user, make_team, make_record, make_sender_number):
    seller = make_user("seller1")
    team = make_team("Inside", [seller])
    records = [make_record(kind, seller) for kind in ("account", "contact", "lead", "opportunity")]
    records.append(make_record("contact", team, mobile_phone="555"))
    number = make_sender_number("+14155550001", owner=team)
    message = Message.objects.create(
        direction="outbound",
        provider_account=number.provider_account,
        sender_number=number,
        from_number=number.e164,
        to_number="+14155550999",
        body="Hello",
        status="sent",
    )
    MessageEvent.objects.create(message=message, status="sent", provider_status="sent")
    return message


def _models():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def test_every_registered_model_has_a_working_changelist_and_add_form(admin_client, admin_user, some_of_everything):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = admin_user
    opened = []
    for model, model_admin in _models():
        info = (model._meta.app_label, model._meta.model_name)
        response = admin_client.get(reverse("admin:%s_%s_changelist" % info))
        assert response.status_code == 200, (model, response.status_code)
        if model_admin.has_add_permission(request):
            response = admin_client.get(reverse("admin:%s_%s_add" % info))
            assert response.status_code == 200, (model, "add", response.status_code)
        obj = model._default_manager.first()
        if obj is not None:
            response = admin_client.get(reverse("admin:%s_%s_change" % info, args=[obj.pk]))
            assert response.status_code == 200, (model, "change", response.status_code)
        opened.append(model._meta.label)
    for label in (
        "org.User",
        "org.Team",
        "crm.Contact",
        "crm.Account",
        "crm.Lead",
        "crm.Opportunity",
        "messaging.ProviderAccount",
        "messaging.SenderNumber",
        "messaging.Message",
        "jobs.Job",
    ):
        assert label in opened


def test_every_model_of_our_apps_is_registered():
    from django.apps import apps

    for label in ("org", "crm", "messaging", "jobs"):
        for model in apps.get_app_config(label).get_models():
            if model._meta.auto_created:
                continue
            assert admin.site.is_registered(model), model._meta.label


def test_seller_is_refused(make_user, some_of_everything):
    from django.test import Client

    client = Client()
    client.force_login(make_user("plain-seller"))
    for url in ("/admin/", reverse("admin:crm_contact_changelist"), reverse("admin:messaging_provideraccount_add")):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_message_is_read_only_with_its_events(admin_client, some_of_everything):
    message = some_of_everything
    page = admin_client.get(reverse("admin:messaging_message_change", args=[message.pk])).content.decode()
    assert "Hello" in page and 'name="_save"' not in page
    assert "+14155550999" in page
    assert "provider status" in page.lower() or "provider_status" in page
    response = admin_client.post(reverse("admin:messaging_message_change", args=[message.pk]), {"body": "changed"})
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.body == "Hello"


def test_record_changelist_shows_phones_and_validity_and_finds_by_number(admin_client, make_user, make_record):
    seller = make_user("owner1")
    make_record("contact", seller, first_name="Bruno", last_name="Costa", mobile_phone="(11) 91234-5678", country="BR")
    make_record("contact", seller, first_name="Chen", last_name="Wei", mobile_phone="415 555")
    url = reverse("admin:crm_contact_changelist")
    page = admin_client.get(url).content.decode()
    assert "+5511912345678" in page and "invalid" in page
    found = admin_client.get(url, {"q": "+55 11 91234 5678"}).content.decode()
    assert "Costa" in found and "Wei" not in found
    by_name = admin_client.get(url, {"q": "wei"}).content.decode()
    assert "Wei" in by_name and "Costa" not in by_name
