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
    from textdesk.messaging.models import ProviderAccount
    from textdesk.messaging.inbound.intake import store_inbound

    account = ProviderAccount.objects.get()
    store_inbound(
        account.pk,
        [InboundSMS(f"SM{prefix}{i:05d}", customers[i % len(customers)], OUR, f"hello {i}") for i in range(count)],
    )


def _queries_to_route(count: int, prefix: str, customers: list[str]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from textdesk.messaging.inbound.router import route_pending

    _store(count, prefix, customers)
    with CaptureQueriesContext(connection) as ctx:
        assert route_pending("test", limit=count) == count
    return len(ctx.captured_queries)


def test_a_batch_of_known_customers_costs_a_fixed_number_of_queries(number, seller, make_record):
    """Known customers (a contact each, talked with before): what the messages share is read once per batch, and
    the messages and their conversations are written a statement each for the whole batch."""
    from textdesk.messaging.models import Message, Notification

    customers = [f"+1415555{2000 + i:04d}" for i in range(40)]
    for phone in customers:
        make_record("contact", seller, mobile_phone=phone)
    _queries_to_route(40, "warm", customers)  # first contact: creates the conversations
    queries = _queries_to_route(40, "batch", customers)
    assert queries <= 20, queries
    assert Message.objects.filter(routing_state="routed").count() == 80
    assert Notification.objects.filter(user=seller, kind="inbound_message").count() == 80


def test_the_people_a_batch_notifies_are_read_once(make_user, make_team, make_sender_number, make_record):
    """A team's number, each customer's record owned by someone else: the owners, the team's members and their
    privilege are read with the batch, not per message."""
    from textdesk.messaging.models import Notification

    members = [make_user(f"member{i}") for i in range(3)]
    make_sender_number(e164=OUR, owner=make_team("Desk", members=members))
    owners = [make_user(f"owner{i}") for i in range(8)]
    customers = [f"+1415555{5000 + i:04d}" for i in range(24)]
    for i, phone in enumerate(customers):
        make_record("contact", owners[i % len(owners)], mobile_phone=phone)
    queries = _queries_to_route(24, "people", customers)
    assert queries <= 20, queries
    assert Notification.objects.filter(kind="inbound_message").count() == 24 * 3


def test_a_batch_of_new_customers_costs_no_query_per_lead_or_conversation(
    number, seller, django_capture_on_commit_callbacks
):
    """Unknown numbers: the new leads and the new conversations are inserted a statement each for the batch; the
    notifications and the live pushes point at the conversations' real ids."""
    from textdesk.crm.models import Lead
    from textdesk.live import bus
    from textdesk.messaging.models import Conversation, Message, Notification

    customers = [f"+1415556{3000 + i:04d}" for i in range(40)]
    with bus.get_bus().subscribe([bus.user_channel(seller.pk)]) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            queries = _queries_to_route(40, "new", customers)
        events = [e[1] for e in iter(lambda: sub.get(0.5), None)]
    assert queries <= 20, queries
    leads = Lead.objects.filter(source="inbound_text")
    assert leads.count() == 40
    assert sorted(leads.values_list("mobile_phone_e164", flat=True)) == customers
    assert all(lead.is_active and lead.owner_user_id == seller.pk for lead in leads)
    assert Conversation.objects.count() == 40
    messages = list(Message.objects.select_related("conversation__lead"))
    assert len(messages) == 40 and all(m.routing_state == "routed" and m.routing_rule == "new_lead" for m in messages)
    assert all(m.conversation.lead.mobile_phone_e164 == m.conversation.customer_e164 == m.from_number for m in messages)
    assert all(m.conversation.unread_count == 1 for m in messages)
    conversation_of = {m.pk: m.conversation_id for m in messages}
    notes = Notification.objects.filter(user=seller, kind="inbound_message")
    assert sorted(n.message_id for n in notes) == sorted(conversation_of)
    assert all(n.conversation_id == conversation_of[n.message_id] for n in notes)
    news = [e for e in events if e["event"] == "message.new"]
    assert sorted(e["message_id"] for e in news) == sorted(conversation_of)
    assert all(e["conversation_id"] == conversation_of[e["message_id"]] for e in news)
    assert [e["unread"] for e in events if e["event"] == "notification.new"] == [40]


def test_repeated_customers_in_one_batch_share_one_lead_and_one_conversation(number, seller):
    from textdesk.crm.models import Lead
    from textdesk.messaging.models import Conversation, Message
    from textdesk.messaging.inbound.router import route_pending

    _store(30, "rep", ["+14155553001", "+14155553002", "+14155553003"])
    assert route_pending("test", limit=30) == 30
    assert Lead.objects.count() == 3
    assert Conversation.objects.count() == 3
    assert sorted(Conversation.objects.values_list("unread_count", flat=True)) == [10, 10, 10]
    assert Message.objects.filter(routing_state="routed", conversation__isnull=False).count() == 30


def test_one_bad_message_of_a_batch_is_flagged_and_the_others_commit(number, seller, make_user, monkeypatch):
    from textdesk.messaging.inbound import notices, router
    from textdesk.messaging.models import Message, Notification
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    admin = make_user("admin", role=SYSTEM_ADMINISTRATOR)
    real = notices.notices
    bad = "+14155554002"

    def failing(number, customer, body):
        if customer == bad:
            raise ValueError("corrupt record")
        return real(number, customer, body)

    monkeypatch.setattr(notices, "notices", failing)  # both routing paths tell the receivers through it
    _store(5, "bad", ["+14155554001", bad, "+14155554003", "+14155554004", "+14155554005"])
    assert router.route_pending("test", limit=10) == 5
    states = dict(Message.objects.values_list("from_number", "routing_state"))
    assert states[bad] == "failed"
    assert [s for n, s in states.items() if n != bad] == ["routed"] * 4
    failed = Message.objects.get(from_number=bad)
    assert failed.conversation_id is None
    assert Notification.objects.get(user=admin, kind="routing_failed").message_id == failed.pk
    assert Notification.objects.filter(user=seller, kind="inbound_message").count() == 4


@pytest.mark.parametrize("path", ["set-based", "per-message", "per-message-ids-not-returned"])
def test_a_conversation_created_meanwhile_is_reused_not_duplicated(
    number, seller, make_record, monkeypatch, caplog, path
):
    """A seller's first send creates the conversation after the batch read its customers' conversations: the
    batch's insert finds it (its conflict clause, or a read where the database returns no ids) and routes there.
    Where the database returns no ids, the new leads are inserted one by one instead."""
    from django.db import connection

    from textdesk.crm.models import Lead
    from textdesk.messaging.inbound import router, routing_sql
    from textdesk.messaging.models import Conversation, Message, Notification

    if path == "set-based" and not routing_sql.available():
        pytest.skip("the set-based routing is PostgreSQL's")
    if path != "set-based":
        monkeypatch.setattr(routing_sql, "available", lambda: False)
    if path == "per-message-ids-not-returned":
        monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    customer = "+14155557001"
    contact = make_record("contact", seller, mobile_phone=customer)
    created = []

    def seller_writes_first(number):
        conversation = Conversation(customer_e164=customer, sender_number=number)
        conversation.set_record(contact)
        conversation.save()
        created.append(conversation)

    if path == "set-based":
        real_choose = routing_sql.choose

        def choose_then_seller_writes(chosen):
            winners = real_choose(chosen)
            seller_writes_first(chosen[0][1])
            return winners

        monkeypatch.setattr(routing_sql, "choose", choose_then_seller_writes)
    else:
        real = router.gather_candidates

        def gather_then_seller_writes(customer_e164, our_number):
            if customer_e164 == customer:
                seller_writes_first(our_number)
            return real(customer_e164, our_number)

        monkeypatch.setattr(router, "gather_candidates", gather_then_seller_writes)
    _store(3, "meanwhile", ["+14155557000", customer, "+14155557002"])
    with caplog.at_level("WARNING"):
        assert router.route_pending("test", limit=3) == 3
    assert "one by one" not in caplog.text  # routed as a batch, not by the per-message fallback
    [conversation] = created
    assert list(Conversation.objects.filter(customer_e164=customer)) == [conversation]
    message = Message.objects.get(from_number=customer)
    assert message.routing_state == "routed" and message.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.unread_count == 1 and conversation.last_message_preview == message.body
    assert Notification.objects.get(message=message, user=seller).conversation_id == conversation.pk
    assert Lead.objects.count() == 2 and Conversation.objects.count() == 3
    for other in Message.objects.exclude(from_number=customer).select_related("conversation__lead"):
        assert other.conversation.lead.mobile_phone_e164 == other.from_number
        assert Notification.objects.get(message=other, user=seller).conversation_id == other.conversation_id


def test_a_customers_messages_of_one_batch_route_in_order_and_a_keyword_hands_the_rest_over(number, seller):
    """Four messages from one new number, a STOP among them: one lead and one conversation, all four routed, the
    STOP recorded, and the summary shows the last message."""
    from textdesk.crm.models import Lead
    from textdesk.messaging.models import Conversation, Message, OptOut, ProviderAccount
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_pending

    customer = "+14155553101"

    account = ProviderAccount.objects.get()
    bodies = ["hello", "are you there?", "STOP", "sorry, wrong button"]
    store_inbound(account.pk, [InboundSMS(f"SMorder{i}", customer, OUR, body) for i, body in enumerate(bodies)])
    assert route_pending("test", limit=10) == 4
    assert Lead.objects.count() == 1
    [conversation] = Conversation.objects.all()
    assert conversation.unread_count == 4 and conversation.last_message_preview == "sorry, wrong button"
    routed = list(
        Message.objects.order_by("id").values_list("body", "routing_state", "routing_rule", "conversation_id")
    )
    assert [r[1] for r in routed] == ["routed"] * 4
    assert {r[3] for r in routed} == {conversation.pk}
    assert routed[0][2] == "new_lead" and routed[1][2] == "only_candidate"
    assert OptOut.objects.get(customer_e164=customer, scope=OUR).is_opted_out
