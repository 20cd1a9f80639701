"""The consent ledger over the API and in the pane; sends check it."""

from __future__ import annotations

import pytest
from django.test import Client

CUSTOMER = "+5511912345678"


@pytest.fixture
def world(people, make_sender_number, make_record):
    number = make_sender_number("+14155550100", owner=people.seller)
    contact = make_record("contact", people.seller, mobile_phone=CUSTOMER, country="BR", last_name="Moreno")
    return number, contact


def _send(client, number, contact, body):
    return client.post(
        "/messages",
        {
            "record_type": "contact",
            "record_id": contact.pk,
            "sender_number_id": number.pk,
            "to": CUSTOMER,
            "body": body,
        },
    )


def test_consents_are_recorded_and_listed_with_how_why_and_who(people, world, client_for):
    seller = client_for(people.seller)
    given = seller.post(
        "/consents",
        {
            "customer": CUSTOMER,
            "purpose": "marketing",
            "granted": True,
            "method": "call",
            "wording": "May we text you our offers? Reply STOP any time.",
            "legal_basis": "consent",
        },
    )
    assert given.status_code == 201, given.content
    assert given.json()["recorded_by"] == "seller" and given.json()["method"] == "call"
    listed = seller.get("/consents", customer=CUSTOMER).json()
    assert listed["count"] == 1 and listed["items"][0]["wording"].startswith("May we text you")
    bad = seller.post("/consents", {"customer": CUSTOMER, "purpose": "spam", "granted": True})
    assert bad.status_code == 422
    # Someone who cannot see the number (no record, no conversation) gets 403.
    assert seller.get("/consents", customer="+5511900000000").status_code == 403
    assert client_for(people.admin).get("/consents", customer="+5511900000000").status_code == 200


def test_revoking_transactional_consent_stops_every_send(people, world, client_for):
    number, contact = world
    seller = client_for(people.seller)
    assert (
        seller.post("/consents", {"customer": CUSTOMER, "purpose": "transactional", "granted": False}).status_code
        == 201
    )
    refused = _send(seller, number, contact, "Your order shipped")
    assert refused.status_code == 422 and refused.json()["reason"] == "RecipientOptedOut"
    assert (
        seller.post("/consents", {"customer": CUSTOMER, "purpose": "transactional", "granted": True}).status_code == 201
    )
    assert _send(seller, number, contact, "Your order shipped").status_code == 201


def test_a_marketing_template_needs_marketing_consent_where_the_organisation_requires_it(people, world, client_for):
    from textdesk.compliance.models import ComplianceSettings, TemplatePurpose
    from textdesk.messaging.models import MessageTemplate

    number, contact = world
    template = MessageTemplate.objects.create(
        owner=people.seller,
        name="Promo",
        category="contact",
        body="Hi {{ContactFirstName}}, 20% off all plans this week!",
    )
    TemplatePurpose.objects.create(template=template, purpose="marketing")
    seller = client_for(people.seller)
    assert _send(seller, number, contact, "Hi Ana, 20% off all plans this week!").status_code == 201  # not required yet
    ComplianceSettings.objects.update_or_create(pk=1, defaults={"marketing_consent_required": True})
    refused = _send(seller, number, contact, "Hi Ana, 20% off all plans this week!")
    assert refused.status_code == 422 and refused.json()["reason"] == "MarketingConsentMissing"
    assert _send(seller, number, contact, "Your invoice is attached").status_code == 201  # not marketing
    seller.post("/consents", {"customer": CUSTOMER, "purpose": "marketing", "granted": True, "method": "web_form"})
    assert _send(seller, number, contact, "Hi Ana, 20% off all plans this week!").status_code == 201


@pytest.mark.parametrize("language,granted,revoked", [("en", "granted", "revoked"), ("pt-br", "concedido", "revogado")])
def test_the_pane_and_the_record_show_the_consent(people, world, client_for, language, granted, revoked):
    number, contact = world
    seller = client_for(people.seller)
    seller.post("/consents", {"customer": CUSTOMER, "purpose": "marketing", "granted": True, "method": "web_form"})
    seller.post("/consents", {"customer": CUSTOMER, "purpose": "transactional", "granted": False, "method": "call"})
    people.seller.language = language
    people.seller.save()
    web = Client()
    web.force_login(people.seller)
    pane = web.get(f"/records/contact/{contact.pk}/pane/", {"to": CUSTOMER}, headers={"HX-Request": "true"})
    pane = pane.content.decode()
    record = web.get(f"/records/contact/{contact.pk}/").content.decode()
    for html in (pane, record):
        assert 'class="consent-marketing"' in html and granted in html and revoked in html


@pytest.mark.django_db
def test_an_older_entry_recorded_later_is_history_and_does_not_undo_the_newer_one():
    import datetime as dt

    from django.utils import timezone

    from textdesk.compliance.actions import ledger
    from textdesk.messaging.actions.consent import is_opted_out

    number = "+14155550177"
    ledger.record(customer=number, purpose="transactional", granted=False, method="keyword")
    ledger.record(
        customer=number,
        purpose="transactional",
        granted=True,
        method="import",
        at=timezone.now() - dt.timedelta(days=400),
    )
    assert ledger.latest(number, "transactional").granted is False
    assert is_opted_out(number, "+14155550100")  # the old grant did not lift today's opt-out
