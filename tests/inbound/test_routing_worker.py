"""Routing of stored inbound messages by the worker: the seed's rules against a real database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from textdesk.providers.base import InboundSMS

CUSTOMER = "+14155550199"
OUR = "+14155550100"
_sid = {"n": 0}


def receive(body: str, from_=CUSTOMER, to=OUR, account=None, opt_signal=None):
    """Store a message as the webhook does, then route everything pending as the worker does."""
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.models import Message, ProviderAccount

    _sid["n"] += 1
    sid = f"SMroute{_sid['n']:06d}"
    account = account or ProviderAccount.objects.get()
    store_inbound(account.pk, [InboundSMS(sid, from_, to, body, opt_signal=opt_signal)])
    route_pending("test")
    return Message.objects.get(provider_message_id=sid)


@pytest.fixture
def seller(make_user):
    return make_user("seller", first_name="Sam", last_name="Seller")


@pytest.fixture
def number(seller, make_sender_number):
    return make_sender_number(e164=OUR, owner=seller)


def test_single_matching_contact_gets_the_message(number, seller, make_record, make_user):
    contact = make_record("contact", make_user("other"), mobile_phone="(415) 555-0199")
    message = receive("hi there")
    assert message.routing_state == "routed" and message.routing_rule == "only_candidate"
    conversation = message.conversation
    assert conversation.contact_id == contact.pk and conversation.customer_e164 == CUSTOMER
    assert conversation.sender_number_id == number.pk
    assert (conversation.unread_count, conversation.last_message_preview, conversation.last_direction) == (
        1,
        "hi there",
        "inbound",
    )


def test_rule_2_record_of_the_numbers_owner_wins_over_entity_type(number, seller, make_record, make_user):
    make_record("contact", make_user("other"), business_phone=CUSTOMER)
    mine = make_record("lead", seller, mobile_phone=CUSTOMER)
    message = receive("hello")
    assert message.conversation.lead_id == mine.pk and message.routing_rule == "owned_by_number_owner"


def test_rule_1_latest_conversation_wins_and_a_reply_lands_in_it(number, seller, make_record, make_user):
    from textdesk.messaging.models import Conversation

    other = make_user("other")
    account = make_record("account", seller, business_phone=CUSTOMER)  # would win rule 2
    opportunity = make_record("opportunity", other)  # no phone: only a conversation makes it a candidate
    conv = Conversation(customer_e164=CUSTOMER, sender_number=number, last_message_at=timezone.now())
    conv.set_record(opportunity)
    conv.save()
    older = Conversation(
        customer_e164=CUSTOMER, sender_number=number, last_message_at=timezone.now() - dt.timedelta(days=3)
    )
    older.set_record(account)
    older.save()
    message = receive("about the deal")
    assert message.conversation_id == conv.pk and message.routing_rule == "most_recent_conversation"
    assert Conversation.objects.get(pk=conv.pk).unread_count == 1


def test_rule_3_member_of_the_numbers_team(make_user, make_team, make_record, make_sender_number):
    alice, bob, outsider = make_user("alice"), make_user("bob"), make_user("outsider")
    team = make_team("West", members=[alice, bob])
    make_sender_number(e164=OUR, owner=team)
    make_record("contact", outsider, mobile_phone=CUSTOMER)
    theirs = make_record("account", bob, business_phone=CUSTOMER)
    message = receive("hello team")
    assert message.conversation.account_id == theirs.pk and message.routing_rule == "owned_by_team_member"


def test_rules_4_5_6_type_then_active_then_updated(number, make_record, make_user):
    other = make_user("other")
    make_record("lead", other, mobile_phone=CUSTOMER)
    make_record("account", other, business_phone=CUSTOMER)
    inactive = make_record("contact", other, mobile_phone=CUSTOMER, status_reason="inactive")
    assert receive("one").conversation.contact_id == inactive.pk  # contact beats account and lead
    active = make_record("contact", other, business_phone=CUSTOMER)
    # A fresh conversation now exists on `inactive`, so rule 1 keeps replies there.
    message = receive("two")
    assert message.conversation.contact_id == inactive.pk and message.routing_rule == "most_recent_conversation"
    assert active.pk != inactive.pk


def test_rule_5_active_before_inactive(number, make_record, make_user):
    other = make_user("other")
    make_record("contact", other, mobile_phone=CUSTOMER, status_reason="inactive")
    active = make_record("contact", other, mobile_phone=CUSTOMER)
    message = receive("hi")
    assert message.conversation.contact_id == active.pk and message.routing_rule == "active"


def test_rule_6_most_recently_updated(number, make_record, make_user):
    from textdesk.crm.models import Contact

    other = make_user("other")
    first = make_record("contact", other, mobile_phone=CUSTOMER)
    make_record("contact", other, mobile_phone=CUSTOMER)
    Contact.objects.filter(pk=first.pk).update(modified_at=timezone.now() + dt.timedelta(minutes=5))
    message = receive("hi")
    assert message.conversation.contact_id == first.pk and message.routing_rule == "most_recently_updated"


def test_unknown_number_creates_a_lead_owned_by_the_numbers_owner(number, seller):
    from textdesk.crm.models import Lead

    message = receive("Who is this?", from_="+5511912345678")
    lead = Lead.objects.get()
    assert message.routing_rule == "new_lead" and message.conversation.lead_id == lead.pk
    assert lead.owner_user_id == seller.pk and lead.source == "inbound_text"
    assert lead.last_name == "+55 11 91234-5678" and lead.mobile_phone_e164 == "+5511912345678"
    # The next message from that number finds the lead (and its conversation) instead of creating another.
    again = receive("Hello?", from_="+5511912345678")
    assert Lead.objects.count() == 1 and again.conversation_id == message.conversation_id
    assert again.conversation.unread_count == 2


def test_team_number_lead_is_owned_by_the_team(make_user, make_team, make_sender_number):
    from textdesk.crm.models import Lead

    team = make_team("East", members=[make_user("a1")])
    make_sender_number(e164=OUR, owner=team)
    receive("hi")
    assert Lead.objects.get().owner_team_id == team.pk


def test_message_to_a_number_that_is_not_ours_is_kept_and_flagged(number, make_user):
    from textdesk.messaging.models import Notification
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    admin = make_user("admin", role=SYSTEM_ADMINISTRATOR)
    message = receive("hello?", to="+14155550111")
    assert message.routing_state == "failed" and message.conversation_id is None
    note = Notification.objects.get(user=admin)
    assert note.kind == "routing_failed" and note.message_id == message.pk and "+14155550111" in note.body


def test_notifications_and_live_push_after_commit(number, seller, make_record, django_capture_on_commit_callbacks):
    from textdesk.live import bus
    from textdesk.messaging.models import Notification

    make_record("contact", seller, mobile_phone=CUSTOMER)
    with bus.get_bus().subscribe([bus.user_channel(seller.pk)]) as sub:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            message = receive("ping")
        assert sub.get(0) is None  # nothing is pushed before the commit
        for callback in callbacks:
            callback()
        events = [sub.get(1.0), sub.get(1.0)]
    note = Notification.objects.get(user=seller)
    assert note.kind == "inbound_message" and note.conversation_id == message.conversation_id
    assert note.message_id == message.pk and note.body == "ping"
    kinds = {e[1]["event"]: e[1] for e in events if e}
    assert kinds["message.new"] == {
        "event": "message.new",
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
    }
    assert kinds["notification.new"]["unread"] == 1


def test_team_number_notifies_every_member_and_tells_the_unprivileged_whom_to_ask(
    make_user, make_team, make_sender_number
):
    from textdesk.messaging.models import Notification
    from textdesk.org.roles import SALES_MANAGER, SYSTEM_ADMINISTRATOR

    seller = make_user("seller2")
    no_role = make_user("newcomer", role=None)
    team = make_team("North", members=[seller, no_role])
    make_user("boss", role=SALES_MANAGER, teams=[team], first_name="Bea", last_name="Boss")
    make_user("root", role=SYSTEM_ADMINISTRATOR, first_name="Ada", last_name="Admin")
    make_sender_number(e164=OUR, owner=team)
    message = receive("hello")
    assert Notification.objects.get(user=seller).kind == "inbound_message"
    missing = Notification.objects.get(user=no_role)
    assert missing.kind == "missing_privilege" and missing.conversation_id is None
    assert "Receive inbound text messages" in missing.body
    assert "Ada Admin" in missing.body and "Bea Boss" in missing.body
    assert message.routing_state == "routed"  # stored and routed all the same


def test_privilege_held_directly_or_as_superuser_counts_like_by_role(make_user, make_team, make_sender_number):
    from django.contrib.auth.models import Permission

    from textdesk.messaging.models import Notification

    direct = make_user("direct", role=None)
    direct.user_permissions.add(Permission.objects.get(codename="receive_inbound_messages"))
    chief = make_user("chief", role=None, is_superuser=True)
    inactive = make_user("gone", is_active=False)
    no_role = make_user("plain", role=None)
    team = make_team("South", members=[direct, chief, inactive, no_role])
    make_sender_number(e164=OUR, owner=team)
    receive("hello")
    kinds = dict(Notification.objects.values_list("user__username", "kind"))
    assert kinds == {"direct": "inbound_message", "chief": "inbound_message", "plain": "missing_privilege"}


# ---------------------------------------------------------------- consent


def test_stop_blocks_later_sends_and_start_lifts_it(number, make_record, seller):
    from textdesk.messaging.actions.consent import is_opted_out
    from textdesk.messaging.models import ConsentEvent

    make_record("contact", seller, mobile_phone=CUSTOMER)
    assert not is_opted_out(CUSTOMER, OUR)
    stop = receive("Stop.")
    assert is_opted_out(CUSTOMER, OUR) and not is_opted_out(CUSTOMER, "+14155550101")
    event = ConsentEvent.objects.get(message=stop)
    assert (event.action, event.source, event.scope) == ("opt_out", "keyword", OUR)
    assert stop.conversation is not None  # the STOP itself is kept in the conversation
    receive("START")
    assert not is_opted_out(CUSTOMER, OUR)


def test_stopall_blocks_every_number(number, seller):
    from textdesk.messaging.actions.consent import is_opted_out

    receive("STOPALL")
    assert is_opted_out(CUSTOMER, OUR) and is_opted_out(CUSTOMER, "+14155550101")


def test_a_sentence_containing_stop_is_not_an_opt_out(number, seller):
    from textdesk.messaging.actions.consent import is_opted_out
    from textdesk.messaging.models import ConsentEvent

    receive("Please don't stop sending me offers")
    assert not is_opted_out(CUSTOMER, OUR) and not ConsentEvent.objects.exists()


def test_provider_opt_out_signal_counts(number, seller):
    from textdesk.messaging.actions.consent import is_opted_out
    from textdesk.messaging.models import ConsentEvent

    receive("arrêtez", opt_signal="opt_out")  # not one of our keywords, but the provider flagged it
    assert is_opted_out(CUSTOMER, OUR)
    assert ConsentEvent.objects.get().source == "provider_signal"


def test_a_keyword_the_provider_also_flagged_is_recorded_as_the_customers_keyword(number, seller):
    from textdesk.messaging.models import ConsentEvent

    receive("STOP", opt_signal="opt_out")  # Twilio flags its own opt-out keywords (OptOutType=STOP)
    event = ConsentEvent.objects.get()
    assert (event.source, event.detail) == ("keyword", "stop")


def test_help_is_recorded(number, seller):
    from textdesk.messaging.models import ConsentEvent

    receive("AYUDA")
    assert ConsentEvent.objects.get().action == "help"


def test_a_sender_that_is_not_a_phone_number_still_gets_a_conversation(number, seller):
    from textdesk.crm.models import Lead

    first = receive("Your code is 1234", from_="BANKCO")
    again = receive("Another code", from_="BANKCO")
    assert first.routing_state == again.routing_state == "routed"
    assert again.conversation_id == first.conversation_id and Lead.objects.count() == 1
    assert again.routing_rule == "only_candidate"


def test_a_message_that_breaks_routing_is_flagged_and_does_not_block_the_rest(number, seller, make_user, monkeypatch):
    """Fault injection: routing raises for one customer's message; it is kept, flagged, and the next one routes."""
    from textdesk.messaging.inbound import notices
    from textdesk.messaging.models import Message, Notification
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    admin = make_user("admin", role=SYSTEM_ADMINISTRATOR)
    real = notices.notices

    def failing(people, number, customer, body):
        if customer == "+14155550123":
            raise ValueError("corrupt record")
        return real(people, number, customer, body)

    monkeypatch.setattr(notices, "notices", failing)  # both routing paths tell the receivers through it
    broken = receive("first", from_="+14155550123")
    fine = receive("second")
    broken.refresh_from_db()
    assert broken.routing_state == "failed" and Message.objects.filter(pk=broken.pk).exists()
    assert fine.routing_state == "routed"
    assert Notification.objects.get(user=admin, kind="routing_failed").message_id == broken.pk


def test_a_message_routed_after_a_later_one_does_not_move_the_summary(number, seller, make_record):
    from textdesk.messaging.models import Conversation

    contact = make_record("contact", seller, mobile_phone=CUSTOMER)
    conv = Conversation(
        customer_e164=CUSTOMER,
        sender_number=number,
        last_message_preview="newer reply",
        last_direction="outbound",
        last_status="sent",
        last_message_at=timezone.now() + dt.timedelta(minutes=1),
    )
    conv.set_record(contact)
    conv.save()
    message = receive("older question")
    conv.refresh_from_db()
    assert message.conversation_id == conv.pk and conv.unread_count == 1
    assert (conv.last_message_preview, conv.last_direction) == ("newer reply", "outbound")
