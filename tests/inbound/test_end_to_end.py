"""From a signed webhook over HTTP to the routed conversation, with a real worker thread."""

from __future__ import annotations

import threading

import pytest

from tests.inbound.conftest import post_signed, twilio_form, wait_for

CUSTOMER = "+14155550199"


def start_worker(name: str, idle_wait: float):
    """A real worker loop in a thread; its database connection is closed when it stops."""
    from django.db import connections

    from textdesk.jobs.worker import Worker

    running = Worker(name=name, idle_wait=idle_wait)

    def run():
        try:
            running.run_forever()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop():
        running.stop()
        thread.join(10)

    return stop


@pytest.fixture
def worker(transactional_db):
    stop = start_worker("test-worker", 0.2)
    yield
    stop()


def _routed(sid):
    from textdesk.messaging.models import Message

    return Message.objects.filter(provider_message_id=sid, routing_state="routed").first()


def test_signed_inbound_lands_on_the_record_the_rules_pick(asgi_server, seller_setup, make_record, make_user, worker):
    from textdesk.messaging.actions.consent import is_opted_out
    from textdesk.messaging.models import Message

    make_record("contact", make_user("other"), mobile_phone=CUSTOMER)
    chosen = make_record("account", seller_setup.seller, business_phone=CUSTOMER)
    form = twilio_form("SM" + "e2e" * 10 + "00", CUSTOMER, seller_setup.number.e164, "Can we talk?")
    for _ in range(6):
        assert post_signed(asgi_server, seller_setup.inbound_url, form).status_code == 200
    message = wait_for(lambda: _routed(form["MessageSid"]))
    assert message.conversation.account_id == chosen.pk and message.routing_rule == "owned_by_number_owner"
    assert Message.objects.filter(direction="inbound").count() == 1

    stop = twilio_form("SM" + "stop" * 8, CUSTOMER, seller_setup.number.e164, "STOP")
    assert post_signed(asgi_server, seller_setup.inbound_url, stop).status_code == 200
    wait_for(lambda: _routed(stop["MessageSid"]))
    assert is_opted_out(CUSTOMER, seller_setup.number.e164)


def test_a_lost_wake_up_is_still_routed_by_polling(transactional_db, seller_setup, monkeypatch):
    """The wake-up after commit never reaches the worker; its idle poll still routes the message."""
    from textdesk.messaging.inbound import intake
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.providers.base import InboundSMS

    stop = start_worker("poller", 0.1)
    try:
        # The worker is running and idle once it has routed a normally announced message.
        store_inbound(seller_setup.account.pk, [InboundSMS("SMwoken", CUSTOMER, seller_setup.number.e164, "a")])
        wait_for(lambda: _routed("SMwoken"))
        published = []
        monkeypatch.setattr(intake.bus, "wake_workers_on_commit", lambda: published.append("lost"))
        store_inbound(seller_setup.account.pk, [InboundSMS("SMlostwake", CUSTOMER, seller_setup.number.e164, "b")])
        assert published == ["lost"]
        assert wait_for(lambda: _routed("SMlostwake"))
    finally:
        stop()


def test_two_workers_routing_at_once_never_double_route(transactional_db, seller_setup, make_record, is_postgres):
    """Many messages, several workers at once: every message routed exactly once, one lead per new number."""
    if not is_postgres:
        pytest.skip("concurrent workers with row locks that skip locked rows need PostgreSQL")
    from django.db import connections

    from textdesk.crm.models import Lead
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.models import Conversation, Message, Notification
    from textdesk.providers.base import InboundSMS

    make_record("contact", seller_setup.seller, mobile_phone=CUSTOMER)
    batch = []
    for i in range(60):
        sender = CUSTOMER if i % 3 == 0 else f"+1415555{1000 + i % 4:04d}"  # four unknown numbers
        batch.append(InboundSMS(f"SMconc{i:04d}", sender, seller_setup.number.e164, f"message {i}"))
    store_inbound(seller_setup.account.pk, batch)

    handled: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work():
        try:
            start.wait()
            while True:
                n = route_pending("w", limit=5)
                if not n:
                    break
                handled.append(n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(handled) == 60
    assert Message.objects.filter(routing_state="routed").count() == 60
    assert Notification.objects.filter(kind="inbound_message").count() == 60
    assert Lead.objects.count() == 4
    assert Conversation.objects.count() == 5
    assert sum(Conversation.objects.values_list("unread_count", flat=True)) == 60


def test_two_messages_from_a_new_number_routed_at_once_make_one_lead(transactional_db, seller_setup):
    """Worker A has created the lead for a new number but not committed when worker B routes the second
    message from that number: B must wait and find A's lead, not create another."""
    from django.db import connections, transaction

    from textdesk.crm.models import Lead
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_message, route_pending
    from textdesk.messaging.models import Message
    from textdesk.providers.base import InboundSMS

    new_number = "+14155550777"
    store_inbound(
        seller_setup.account.pk,
        [
            InboundSMS("SMnew1", new_number, seller_setup.number.e164, "one"),
            InboundSMS("SMnew2", new_number, seller_setup.number.e164, "two"),
        ],
    )
    a_routed, b_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def worker_a():
        try:
            with transaction.atomic():
                message = Message.objects.select_for_update().get(provider_message_id="SMnew1")
                route_message(message)
                a_routed.set()
                b_done.wait(2)  # without serialisation B would finish now, not seeing A's lead
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def worker_b():
        try:
            a_routed.wait(30)
            route_pending("b")
            b_done.set()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert Lead.objects.count() == 1
    assert Message.objects.filter(routing_state="routed").count() == 2
    first, second = (Message.objects.get(provider_message_id=sid) for sid in ("SMnew1", "SMnew2"))
    assert (first.routing_rule, second.routing_rule) == ("new_lead", "only_candidate")
    assert first.conversation_id == second.conversation_id
