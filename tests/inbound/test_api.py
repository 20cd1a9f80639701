"""Conversations, messages and notifications over the REST API, visibility-checked."""

from __future__ import annotations

import pytest

from textdesk.providers.base import InboundSMS

CUSTOMER = "+14155550199"
OUR = "+14155550100"


@pytest.fixture
def world(make_user, make_sender_number, make_record, make_team):
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.models import Message
    from textdesk.org.models import ApiToken

    seller = make_user("seller")
    stranger = make_user("stranger")
    number = make_sender_number(e164=OUR, owner=seller)
    contact = make_record("contact", seller, mobile_phone=CUSTOMER)
    store_inbound(
        number.provider_account_id,
        [
            InboundSMS("SMapi1", CUSTOMER, OUR, "first"),
            InboundSMS("SMapi2", CUSTOMER, OUR, "STOP"),
        ],
    )
    route_pending("test")
    Message.objects.create(
        direction="outbound",
        provider_account_id=number.provider_account_id,
        sender_number=number,
        conversation=Message.objects.get(provider_message_id="SMapi1").conversation,
        from_number=OUR,
        to_number=CUSTOMER,
        body="sorry",
        status="undelivered",
        failure_reason="RecipientOptedOut",
        provider_message_id="SMapi3",
    )
    tokens = {u.username: ApiToken.issue(u)[1] for u in (seller, stranger)}
    return {"seller": seller, "stranger": stranger, "number": number, "contact": contact, "tokens": tokens}


def get(client, world, who, path, **params):
    return client.get(f"/api/v1{path}", params, HTTP_AUTHORIZATION=f"Bearer {world['tokens'][who]}")


def post(client, world, who, path):
    return client.post(f"/api/v1{path}", HTTP_AUTHORIZATION=f"Bearer {world['tokens'][who]}")


def test_conversations_list_and_filters(client, world):
    answer = get(client, world, "seller", "/conversations")
    assert answer.status_code == 200
    (conv,) = answer.json()["items"]
    assert (conv["record_type"], conv["record_id"]) == ("contact", world["contact"].pk)
    assert conv["customer_number"] == CUSTOMER and conv["our_number"] == OUR and conv["unread_count"] == 2
    by_record = get(client, world, "seller", "/conversations", record_type="contact", record_id=world["contact"].pk)
    assert by_record.json()["count"] == 1
    assert get(client, world, "seller", "/conversations", record_type="lead", record_id=1).json()["count"] == 0
    assert get(client, world, "seller", "/conversations", number="(415) 555-0199").json()["count"] == 1
    assert get(client, world, "seller", "/conversations", number="+14155550111").json()["count"] == 0
    assert get(client, world, "seller", "/conversations", mine="true").json()["count"] == 1
    bad_number = get(client, world, "seller", "/conversations", number="not a number")
    assert bad_number.status_code == 422 and bad_number.json()["detail"][0]["loc"][-1] == "number"
    assert get(client, world, "seller", "/conversations", record_type="contact").status_code == 422
    page = get(client, world, "seller", "/conversations", limit=1).json()
    assert (page["limit"], page["offset"], len(page["items"])) == (1, 0, 1)


def test_messages_show_routing_status_and_failure(client, world):
    conv_id = get(client, world, "seller", "/conversations").json()["items"][0]["id"]
    answer = get(client, world, "seller", f"/conversations/{conv_id}/messages")
    assert answer.status_code == 200
    first, stop, sorry = answer.json()["items"]
    assert first["direction"] == "inbound" and first["from_number"] == CUSTOMER and first["to_number"] == OUR
    assert first["routing_rule"] == "only_candidate" and first["status_reason"] == "InboundProcessingSuccessful"
    assert first["provider_message_id"] == "SMapi1" and first["segments"] == 1
    assert (first["record_type"], first["record_id"]) == ("contact", world["contact"].pk)
    assert stop["body"] == "STOP" and stop["routing_rule"] == "only_candidate"
    assert sorry["status_reason"] == "NotDelivered" and sorry["failure"]["reason"] == "RecipientOptedOut"
    assert "START" in sorry["failure"]["fix"]


def test_a_conversation_the_caller_cannot_see_is_404(client, world):
    conv_id = get(client, world, "seller", "/conversations").json()["items"][0]["id"]
    assert get(client, world, "stranger", "/conversations").json()["count"] == 0
    assert get(client, world, "stranger", f"/conversations/{conv_id}/messages").status_code == 404
    assert get(client, world, "seller", "/conversations/999999/messages").status_code == 404
    assert client.get("/api/v1/conversations").status_code == 401


def test_notifications_list_and_mark_read(client, world):
    answer = get(client, world, "seller", "/notifications")
    data = answer.json()
    assert answer.status_code == 200 and data["count"] == 2 and data["unread"] == 2
    assert {n["kind"] for n in data["items"]} == {"inbound_message"}
    first = data["items"][0]["id"]
    assert post(client, world, "stranger", f"/notifications/{first}/read").status_code == 404
    read = post(client, world, "seller", f"/notifications/{first}/read")
    assert read.status_code == 200 and read.json()["read_at"]
    assert get(client, world, "seller", "/notifications", unread="true").json()["count"] == 1
    everything = post(client, world, "seller", "/notifications/read-all").json()
    assert everything == {"marked": 1, "unread": 0}
    assert get(client, world, "stranger", "/notifications").json()["count"] == 0


def test_without_the_receive_privilege_inbound_messages_are_hidden(client, world):
    from django.contrib.auth.models import Group

    seller = world["seller"]
    seller.groups.set([])
    seller.user_permissions.add(
        *Group.objects.get(name="Salesperson").permissions.exclude(codename="receive_inbound_messages")
    )
    conv_id = get(client, world, "seller", "/conversations").json()["items"][0]["id"]
    items = get(client, world, "seller", f"/conversations/{conv_id}/messages").json()["items"]
    assert [m["direction"] for m in items] == ["outbound"]
