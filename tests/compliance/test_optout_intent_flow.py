"""A customer asks to stop in their own words: the seller sees it in the pane and records it in one click
(or the organisation records it automatically). Real webhooks, a real worker."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.inbound.conftest import post_signed, twilio_form, wait_for

CUSTOMER = "+14155550177"


@pytest.fixture
def contact(no_gateway, make_record):
    return make_record("contact", no_gateway.seller, mobile_phone=CUSTOMER)


def _flag():
    from textdesk.compliance.models import OptOutFlag

    return OptOutFlag.objects.select_related("conversation").first()


def _replies():
    from textdesk.messaging.models import Message

    return list(Message.objects.filter(direction="outbound", to_number=CUSTOMER))


def test_the_seller_records_an_opt_out_written_in_free_text_in_one_click(asgi_server, no_gateway, contact, worker):
    from textdesk.messaging.actions.consent import is_opted_out

    form = twilio_form("SM" + "n" * 32, CUSTOMER, no_gateway.number.e164, "Hola, no me escriban más por favor")
    assert post_signed(asgi_server, no_gateway.inbound_url, form).status_code == 200
    flag = wait_for(_flag)
    assert flag.language == "es" and not is_opted_out(CUSTOMER, no_gateway.number.e164)

    web = Client()
    web.force_login(no_gateway.seller)
    pane = web.get(
        f"/records/contact/{contact.pk}/pane/", {"c": flag.conversation_id}, headers={"HX-Request": "true"}
    ).content.decode()
    assert f'data-optout-flag="{flag.pk}"' in pane and "no me escriban mas" in pane

    box = web.post(f"/compliance/optout-requests/{flag.pk}/record", headers={"HX-Request": "true"})
    assert box.status_code == 200 and "data-optout-flag" not in box.content.decode()
    assert is_opted_out(CUSTOMER, no_gateway.number.e164)
    reply = wait_for(_replies)[0]
    assert reply.body.startswith("TextDesk: no recibirá más mensajes de este número")


def test_an_outsider_cannot_act_on_someone_elses_opt_out_request(asgi_server, no_gateway, contact, worker, make_user):
    form = twilio_form("SM" + "o" * 32, CUSTOMER, no_gateway.number.e164, "please stop texting me")
    post_signed(asgi_server, no_gateway.inbound_url, form)
    flag = wait_for(_flag)
    web = Client()
    web.force_login(make_user("outsider"))
    assert web.post(f"/compliance/optout-requests/{flag.pk}/record").status_code == 404


def test_the_organisation_can_record_them_automatically(asgi_server, no_gateway, contact, worker, client_for):
    from textdesk.compliance.models import ComplianceSettings
    from textdesk.messaging.actions.consent import is_opted_out

    ComplianceSettings.objects.update_or_create(pk=1, defaults={"auto_opt_out_on_intent": True})
    form = twilio_form("SM" + "p" * 32, CUSTOMER, no_gateway.number.e164, "Non scrivetemi più, grazie")
    post_signed(asgi_server, no_gateway.inbound_url, form)
    wait_for(lambda: is_opted_out(CUSTOMER, no_gateway.number.e164))
    assert _flag().state == "recorded"
    listed = client_for(no_gateway.seller).get("/optout-requests", state="recorded").json()
    assert listed["items"][0]["language"] == "it"
    assert wait_for(_replies)[0].body.startswith("TextDesk: non riceverai più messaggi")


def test_an_ordinary_message_is_not_flagged(asgi_server, no_gateway, contact, worker):
    from textdesk.compliance.models import ComplianceSettings
    from textdesk.messaging.models import Message

    for sid, body in (("q", "Can you stop by the office tomorrow?"), ("r", "No dejen de escribirme")):
        post_signed(
            asgi_server, no_gateway.inbound_url, twilio_form("SM" + sid * 32, CUSTOMER, no_gateway.number.e164, body)
        )
    last = wait_for(lambda: Message.objects.filter(provider_message_id="SM" + "r" * 32, routing_state="routed").first())
    wait_for(lambda: ComplianceSettings.current().intent_scanned_up_to >= last.pk)
    assert _flag() is None
