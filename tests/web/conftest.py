"""Fixtures for the web app tests: a seller with a number, records and conversations."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone


@pytest.fixture
def make_conversation(db):
    from textdesk.messaging.models import Conversation, Message

    def make(record, sender_number, customer, messages=(), unread=0):
        conv = Conversation(customer_e164=customer, sender_number=sender_number, unread_count=unread)
        conv.set_record(record)
        conv.save()
        last = None
        for i, spec in enumerate(messages):
            direction, body, status = spec[:3]
            extra = spec[3] if len(spec) > 3 else {}
            ours, theirs = sender_number.e164, customer
            last = Message.objects.create(
                conversation=conv,
                direction=direction,
                provider_account=sender_number.provider_account,
                sender_number=sender_number,
                from_number=ours if direction == "outbound" else theirs,
                to_number=theirs if direction == "outbound" else ours,
                body=body,
                status=status,
                **extra,
            )
            Message.objects.filter(pk=last.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10 - i))
        if last is not None:
            conv.last_message_at = timezone.now()
            conv.last_message_preview = last.body[:160]
            conv.last_direction = last.direction
            conv.last_status = last.status
            conv.save()
        return conv

    return make


@pytest.fixture
def scene(make_user, make_team, make_sender_number, make_record, make_conversation):
    """Sam (seller) with his line; Rui (another seller) with his; an account, a contact, an opportunity."""
    sam = make_user("sam", first_name="Sam", last_name="Seller")
    rui = make_user("rui", first_name="Rui", last_name="Rocha")
    sam_line = make_sender_number("+14155550001", owner=sam, name="Sam's line")
    rui_line = make_sender_number("+14155550009", owner=rui, name="Rui's line")
    account = make_record("account", sam, name="Acme Logistics", business_phone="+1 415 555 0100", city="San Francisco")
    alice = make_record(
        "contact",
        sam,
        first_name="Alice",
        last_name="Moreno",
        account=account,
        mobile_phone="+1 415 555 0134",
        job_title="Buyer",
    )
    chen = make_record("contact", sam, first_name="Chen", last_name="Wei", mobile_phone="415 555")
    opp = make_record("opportunity", sam, name="Fleet renewal", account=account)
    opp.contacts.add(alice)
    conv = make_conversation(
        alice,
        sam_line,
        "+14155550134",
        messages=[
            ("outbound", "Hello Alice, your quote is ready.", "delivered"),
            ("outbound", "Did you see it?", "failed", {"failure_reason": "InvalidSendingParameters"}),
            ("inbound", "Yes, thanks!", "received", {"routing_rule": "recent_conversation"}),
        ],
        unread=1,
    )
    return type(
        "Scene",
        (),
        dict(
            sam=sam,
            rui=rui,
            sam_line=sam_line,
            rui_line=rui_line,
            account=account,
            alice=alice,
            chen=chen,
            opp=opp,
            conv=conv,
        ),
    )


@pytest.fixture
def sam_client(client, scene):
    client.force_login(scene.sam)
    return client
