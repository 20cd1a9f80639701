"""The audit trail: what people do leaves an event; administrators read it (admin site and API), others cannot."""

from __future__ import annotations

import pytest
from django.test import Client

from textdesk.compliance.models import AppendOnly, AuditEvent


@pytest.fixture
def sending(people, make_sender_number, make_record):
    number = make_sender_number("+14155550100", owner=people.seller)
    contact = make_record("contact", people.seller, mobile_phone="+5511912345678", country="BR")
    return number, contact


def test_login_and_failed_login_are_audited(people):
    web = Client()
    assert web.post("/login/", {"username": "seller", "password": "wrong"}).status_code == 200
    assert web.post("/login/", {"username": "seller", "password": "pw-Passw0rd!"}).status_code == 302
    failed = AuditEvent.objects.get(action="login_failed")
    assert failed.target_id == "seller" and failed.actor is None and "wrong" not in str(failed.details)
    assert AuditEvent.objects.get(action="logged_in").actor == people.seller


def test_a_send_a_read_and_a_credentials_change_are_audited(people, sending, client_for, make_provider_account):
    from textdesk.messaging.actions.reading import mark_conversation_read

    number, contact = sending
    sent = client_for(people.seller).post(
        "/messages",
        {
            "record_type": "contact",
            "record_id": contact.pk,
            "sender_number_id": number.pk,
            "to": "+5511912345678",
            "body": "Hi",
        },
    )
    assert sent.status_code == 201
    event = AuditEvent.objects.get(action="sent")
    assert event.actor == people.seller and event.details["to"] == "+5511912345678"

    from textdesk.messaging.models import Conversation

    mark_conversation_read(people.seller, Conversation.objects.get())
    assert AuditEvent.objects.filter(action="read", actor=people.seller).count() == 1

    account = number.provider_account
    before = AuditEvent.objects.filter(action="credentials_changed").count()
    account.credentials = {"account_sid": "AC" + "9" * 32, "auth_token": "new-secret-token"}
    account.save()
    account.name = "renamed"
    account.save()  # no credential change: no event
    changed = AuditEvent.objects.filter(action="credentials_changed")
    assert changed.count() == before + 1
    assert "new-secret-token" not in str(list(changed.values()))


def test_audit_events_are_for_administrators_only_over_the_api(people, client_for):
    AuditEvent.objects.create(action="login_failed", target_type="user", target_id="mallory")
    AuditEvent.objects.create(action="logged_in", actor=people.seller, actor_name="seller")
    for user in (people.seller, people.manager):
        answer = client_for(user).get("/audit-events")
        assert answer.status_code == 403, user
        assert "administrators" in answer.json()["detail"]
    assert client_for(None).get("/audit-events").status_code == 401
    admin = client_for(people.admin)
    listed = admin.get("/audit-events").json()
    assert listed["count"] >= 2
    only_failed = admin.get("/audit-events", action="login_failed").json()
    assert [e["target_id"] for e in only_failed["items"]] == ["mallory"]
    assert admin.get("/audit-events", actor="seller").json()["items"][0]["action"] == "logged_in"


def test_audit_events_cannot_be_changed_or_deleted(people):
    event = AuditEvent.objects.create(action="logged_in", actor=people.seller, actor_name="seller")
    event.action = "erased"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()


def test_the_admin_site_lists_and_filters_audit_events_read_only(people):
    AuditEvent.objects.create(action="login_failed", target_type="user", target_id="mallory")
    AuditEvent.objects.create(action="logged_in", actor=people.seller, actor_name="seller", target_id="seller")
    people.admin.is_staff = True  # administrators reach the admin site as staff
    people.admin.save()
    web = Client()
    web.force_login(people.admin)
    page = web.get("/admin/compliance/auditevent/", {"action__exact": "login_failed"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "mallory" in html and html.count('class="field-action"') == 1  # one row: the filter holds
    event = AuditEvent.objects.get(target_id="mallory")
    assert web.post(f"/admin/compliance/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    seller = Client()
    seller.force_login(people.seller)
    assert seller.get("/admin/compliance/auditevent/").status_code == 302  # not staff: to the admin login
