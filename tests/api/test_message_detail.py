"""GET /api/v1/messages/{id} carries the record and the routing rule, like the conversation's message list."""

from __future__ import annotations

import pytest

from textdesk.messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_one_message_says_which_record_and_which_rule(client_for, people, make_sender_number, make_record):
    number = make_sender_number("+14155550001", owner=people.seller)
    contact = make_record("contact", people.seller, last_name="Moreno", mobile_phone="+14155550134")
    conversation = Conversation(customer_e164="+14155550134", sender_number=number)
    conversation.set_record(contact)
    conversation.save()
    reply = Message.objects.create(
        conversation=conversation,
        direction="inbound",
        provider_account=number.provider_account,
        sender_number=number,
        from_number="+14155550134",
        to_number=number.e164,
        body="Yes, thanks!",
        status="received",
        routing_state="routed",
        routing_rule="recent_conversation",
    )
    api = client_for(people.seller)
    one = api.get(f"/messages/{reply.pk}").json()
    (listed,) = api.get(f"/conversations/{conversation.pk}/messages").json()["items"]
    assert (one["record_type"], one["record_id"]) == ("contact", contact.pk)
    assert one["routing_rule"] == "recent_conversation" and one["routing_state"] == "routed"
    for key in ("record_type", "record_id", "routing_rule", "routing_state", "conversation_id"):
        assert one[key] == listed[key]
