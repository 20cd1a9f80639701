"""Routing a batch of pending messages in one transaction: few queries, one bad message does not sink the rest."""

from __future__ import annotations

import pytest

from textdesk.providers.base import InboundSMS

OUR = "+14155550100"


@pytest.fixture
def seller(make_user):
    return make_user("seller", first_name="Sam", last_name="Seller")


@pytest.fixture
def number(seller, make_sender_number):
    return make_sender_number(e164=OUR, owner=seller)


def _store(count: int, prefix: str, customers: list[str]) -> None:
    from textdesk.messaging.actions.intake import store_inbound
    from textdesk.messaging.models import ProviderAccount

    account = ProviderAccount.objects.get()
    store_inbound(account.pk, [InboundSMS(f"SM{prefix}{i:05d}", customers[i % len(customers)], OUR, f"hello {i}")
                               for i in range(count)])


def _queries_to_route(count: int, prefix: str, customers: list[str]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from textdesk.messaging.actions.inbound import route_pending

    _store(count, prefix, customers)
    with CaptureQueriesContext(connection) as ctx:
        assert route_pending("test", limit=count) == count
    return len(ctx.captured_queries)


def test_a_batch_costs_a_few_queries_per_message(number, seller, make_record):
    """Known customers (a contact each): the per-message cost is the message, its conversation and a savepoint,
    everything shared is read once per batch."""
    from textdesk.messaging.models import Message, Notification

    customers = [f"+1415555{2000 + i:04d}" for i in range(40)]
    for phone in customers:
        make_record("contact", seller, mobile_phone=phone)
    _queries_to_route(40, "warm", customers)  # first contact: creates the conversations
    queries = _queries_to_route(40, "batch", customers)
    assert queries <= 15 + 5 * 40, queries
    assert Message.objects.filter(routing_state="routed").count() == 80
    assert Notification.objects.filter(user=seller, kind="inbound_message").count() == 80


def test_repeated_customers_in_one_batch_share_one_lead_and_one_conversation(number, seller):
    from textdesk.crm.models import Lead
    from textdesk.messaging.actions.inbound import route_pending
    from textdesk.messaging.models import Conversation, Message

    _store(30, "rep", ["+14155553001", "+14155553002", "+14155553003"])
    assert route_pending("test", limit=30) == 30
    assert Lead.objects.count() == 3
    assert Conversation.objects.count() == 3
    assert sorted(Conversation.objects.values_list("unread_count", flat=True)) == [10, 10, 10]
    assert Message.objects.filter(routing_state="routed", conversation__isnull=False).count() == 30


def test_one_bad_message_of_a_batch_is_flagged_and_the_others_commit(number, seller, make_user, monkeypatch):
    from textdesk.messaging.actions import inbound
    from textdesk.messaging.models import Message, Notification
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    admin = make_user("admin", role=SYSTEM_ADMINISTRATOR)
    real = inbound.gather_candidates
    bad = "+14155554002"

    def failing(customer, our_number):
        if customer == bad:
            raise ValueError("corrupt record")
        return real(customer, our_number)

    monkeypatch.setattr(inbound, "gather_candidates", failing)
    _store(5, "bad", ["+14155554001", bad, "+14155554003", "+14155554004", "+14155554005"])
    assert inbound.route_pending("test", limit=10) == 5
    states = dict(Message.objects.values_list("from_number", "routing_state"))
    assert states[bad] == "failed"
    assert [s for n, s in states.items() if n != bad] == ["routed"] * 4
    failed = Message.objects.get(from_number=bad)
    assert failed.conversation_id is None
    assert Notification.objects.get(user=admin, kind="routing_failed").message_id == failed.pk
    assert Notification.objects.filter(user=seller, kind="inbound_message").count() == 4
