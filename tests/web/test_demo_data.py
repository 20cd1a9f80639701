"""The demo organisation: an inbox with a conversation in every state, seeded once; the simulator's URL from
TEXTDESK_SIMULATOR_PORT; `textdesk demo` quiet about requests unless --verbose."""

import logging

import httpx
import pytest
from django.core.management import call_command


@pytest.fixture
def seeded(db):
    from textdesk.demo.organisation import seed_demo

    seed_demo(simulator_url="http://127.0.0.1:8025")


def test_the_demo_inbox_holds_a_conversation_in_every_state(seeded):
    from textdesk.messaging.models import Conversation, Message, Notification, OptOut
    from textdesk.org.models import User

    statuses = set(Message.objects.values_list("status", flat=True))
    assert {"delivered", "received", "failed", "undelivered", "unknown"} <= statuses
    failed = Message.objects.get(status="failed")
    assert failed.failure_reason and failed.conversation.record.owner_user.username == "seller"
    assert OptOut.objects.filter(is_opted_out=True).exists()
    seller = User.objects.get(username="seller")
    assert Conversation.objects.filter(unread_count__gt=0, lead__owner_user=seller).exists()
    assert Notification.objects.filter(user=seller, read_at__isnull=True).count() == 1
    seller2 = User.objects.get(username="seller2")
    assert Notification.objects.filter(user=seller2, read_at__isnull=True).count() == 1
    # The tour's own customer starts without history: step 1 begins her conversation.
    assert not Conversation.objects.filter(customer_e164="+14155550134").exists()


def test_seeding_again_adds_nothing(seeded):
    from textdesk.crm.models import Contact
    from textdesk.demo.organisation import seed_demo
    from textdesk.messaging.models import Conversation, Message, Notification, OptOut

    def counts():
        return [m.objects.count() for m in (Contact, Conversation, Message, Notification, OptOut)]

    before = counts()
    seed_demo(simulator_url="http://127.0.0.1:8025")
    assert counts() == before


def test_demo_grid_shows_the_seeded_states(seeded, client):
    from textdesk.org.models import User

    client.force_login(User.objects.get(username="seller"))
    body = client.get("/messages/").content.decode()
    for word in ("Failed", "Not delivered", "Unknown outcome", "Received"):
        assert word in body, word


def test_seed_demo_command_uses_the_simulator_port(db, monkeypatch):
    from textdesk.messaging.models import ProviderAccount

    monkeypatch.setenv("TEXTDESK_SIMULATOR_PORT", "18125")
    call_command("seed_demo", stdout=__import__("io").StringIO())
    account = ProviderAccount.objects.get(name="Demo carrier (simulator)")
    assert account.options["base_url"] == "http://127.0.0.1:18125"
    monkeypatch.setenv("TEXTDESK_SIMULATOR_PORT", "18126")  # the simulator moved: the demo carrier follows
    call_command("seed_demo", stdout=__import__("io").StringIO())
    account.refresh_from_db()
    assert account.options["base_url"] == "http://127.0.0.1:18126"


def test_demo_logs_no_line_per_request_unless_verbose(caplog):
    from textdesk.simulator.server import start_in_thread
    from textdesk.web.management.commands.demo import configure_request_logs

    simulator = start_in_thread()
    try:
        with caplog.at_level(logging.INFO):
            configure_request_logs(verbose=False)
            httpx.get(simulator.url + "/_sim/health")
            assert not [r for r in caplog.records if "HTTP Request" in r.getMessage()]
            configure_request_logs(verbose=True)
            httpx.get(simulator.url + "/_sim/health")
            assert [r for r in caplog.records if "HTTP Request" in r.getMessage()]
    finally:
        configure_request_logs(verbose=False)
        simulator.stop()


def test_the_customer_phone_answers_on_the_demo_sellers_own_line_first(seeded):
    """The page's business number defaults to its first: the seller's own line, named, not another team's."""
    from textdesk.demo.simulator import numbers_on_simulator

    hosted = numbers_on_simulator("http://127.0.0.1:8025")
    assert [n["number"] for n in hosted][0] == "+14155550001"
    assert hosted[0]["label"] == "Sam's line (seller)"
    assert {n["label"] for n in hosted[1:]} == {"Brazil Desk line", "Inside Sales line"}
