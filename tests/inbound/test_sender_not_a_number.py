"""A signed webhook whose sender is not a phone number (nor a sender name): kept, shown to administrators as a
message that could not be routed, and no lead is made of it."""

from __future__ import annotations

from tests.inbound.conftest import post_signed, twilio_form


def test_a_sender_that_is_not_a_number_is_stored_flagged_for_admins_and_makes_no_lead(
    asgi_server, seller_setup, make_user
):
    from django.test import Client
    from django.urls import reverse

    from textdesk.crm.models import Lead
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.models import Conversation, Message, Notification
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    admin = make_user("admin", role=SYSTEM_ADMINISTRATOR)
    form = twilio_form("SM" + "nan" * 10 + "00", "not-a-number", seller_setup.number.e164, "free prizes inside")
    assert post_signed(asgi_server, seller_setup.inbound_url, form).status_code == 200
    assert route_pending("test") == 1

    message = Message.objects.get(provider_message_id=form["MessageSid"])
    assert (message.from_number, message.body) == ("not-a-number", "free prizes inside")
    assert message.routing_state == "failed" and message.conversation_id is None
    assert not Lead.objects.exists() and not Conversation.objects.exists()
    assert not Notification.objects.filter(user=seller_setup.seller).exists()
    note = Notification.objects.get(user=admin)
    assert note.kind == "routing_failed" and note.message_id == message.pk
    assert "not-a-number" in note.body and "is not a phone number" in note.body

    browser = Client()
    browser.force_login(admin)
    page = browser.get(reverse("notification_list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "A text message could not be routed" in text and "not-a-number" in text


def test_a_sender_name_still_reaches_the_seller(asgi_server, seller_setup):
    """An alphanumeric sender id (a bank, a delivery service) is a sender the seller may want to see."""
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.models import Message

    form = twilio_form("SM" + "bnk" * 10 + "00", "BANKCO", seller_setup.number.e164, "Your code is 1234")
    assert post_signed(asgi_server, seller_setup.inbound_url, form).status_code == 200
    assert route_pending("test") == 1
    message = Message.objects.get(provider_message_id=form["MessageSid"])
    assert message.routing_state == "routed" and message.conversation.customer_e164 == "BANKCO"
