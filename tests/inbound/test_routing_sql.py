"""The set-based routing of PostgreSQL ranks candidates in SQL; it must reach the decision the pure rules reach
(textdesk.domain.routing.choose_record over the snapshot the per-message path reads): the same record, the same
deciding rule. And a pass routed either way must leave the same rows behind (conversation, the message's routing
fields, a new lead, notifications, consent) and push the same live events."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CUSTOMER = "+14155559000"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# Few distinct values, so that ties (which the later rules break) are common.
RECORDS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["contact", "account", "lead", "opportunity"]),
            "owner": st.sampled_from(["number_owner", "member", "other", "team"]),
            "active": st.booleans(),
            "modified": st.integers(0, 2),
            "phone": st.sampled_from(
                ["mobile_phone", "business_phone", None]
            ),  # None: a candidate only by conversation
            "talk": st.sampled_from([None, ("receiving", 0), ("receiving", 1), ("same_owner", 1), ("someone_else", 1)]),
        }
    ),
    min_size=0,
    max_size=5,
)


@pytest.fixture
def world(make_user, make_team, make_sender_number):
    from textdesk.messaging.inbound import routing_sql

    if not routing_sql.available():
        pytest.skip("the set-based routing is PostgreSQL's")
    seller, member, other = make_user("seller"), make_user("member"), make_user("other")
    team = make_team("Desk", members=[member])
    numbers = {
        "user": (
            make_sender_number(e164="+14155550101", owner=seller),
            make_sender_number(e164="+14155550102", owner=seller),
        ),
        "team": (
            make_sender_number(e164="+14155550103", owner=team),
            make_sender_number(e164="+14155550104", owner=team),
        ),
    }
    someone_else = make_sender_number(e164="+14155550105", owner=other)
    owners = {"number_owner": seller, "member": member, "other": other, "team": team}
    return numbers, someone_else, owners


def _create(records, receiving, same_owner, someone_else, owners, make_record):
    from textdesk.crm.models import record_model
    from textdesk.messaging.models import Conversation

    through = {"receiving": receiving, "same_owner": same_owner, "someone_else": someone_else}
    for spec in records:
        phone = {spec["phone"]: CUSTOMER} if spec["phone"] and spec["type"] != "opportunity" else {}
        record = make_record(spec["type"], owners[spec["owner"]], **phone)
        record_model(spec["type"]).objects.filter(pk=record.pk).update(
            is_active=spec["active"], modified_at=T0 + dt.timedelta(hours=spec["modified"])
        )
        if spec["talk"]:
            number, hours = spec["talk"]
            conversation = Conversation(
                customer_e164=CUSTOMER, sender_number=through[number], last_message_at=T0 + dt.timedelta(days=hours)
            )
            conversation.set_record(record)
            conversation.save()


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=RECORDS, owned_by=st.sampled_from(["user", "team"]))
def test_sql_ranking_picks_what_the_rules_pick(world, make_record, records, owned_by):
    from django.db import transaction
    from django.utils import timezone

    from textdesk.messaging.inbound import router, routing_sql, snapshot

    numbers, someone_else, owners = world
    receiving, same_owner = numbers[owned_by]
    savepoint = transaction.savepoint()
    try:
        _create(records, receiving, same_owner, someone_else, owners, make_record)
        number = snapshot.read_numbers([receiving.e164])[receiving.e164]
        message = snapshot.Routable(
            snapshot.Claimed(1, CUSTOMER, receiving.e164, "hello", "", timezone.now()), number, CUSTOMER
        )
        expected = router.rank_by_rules([message])[1]
        got = routing_sql.choose([message])[1]
    finally:
        transaction.savepoint_rollback(savepoint)
    assert got == expected  # the same Decision: record, its owners, activity, times, and the deciding rule


def test_each_message_of_a_batch_is_ranked_on_its_own(world, make_record):
    """Two customers in one statement: each gets its own winner (or none: a new lead)."""
    from django.utils import timezone

    from textdesk.messaging.inbound import routing_sql, snapshot

    numbers, _, owners = world
    receiving = numbers["user"][0]
    contact = make_record("contact", owners["other"], mobile_phone=CUSTOMER)
    lead = make_record("lead", owners["number_owner"], mobile_phone="+14155559001")
    account = make_record("account", owners["number_owner"], business_phone=CUSTOMER)
    number = snapshot.read_numbers([receiving.e164])[receiving.e164]
    batch = [
        snapshot.Routable(snapshot.Claimed(i, customer, receiving.e164, "hi", "", timezone.now()), number, customer)
        for i, customer in enumerate([CUSTOMER, "+14155559001", "+14155559002"], start=1)
    ]
    decided = {
        message_id: (d.candidate and (d.candidate.key, d.candidate.owner_user_id, d.candidate.owner_team_id), d.rule)
        for message_id, d in routing_sql.choose(batch).items()
    }
    assert decided == {
        1: ((("account", account.pk), owners["number_owner"].pk, None), "owned_by_number_owner"),
        2: ((("lead", lead.pk), owners["number_owner"].pk, None), "only_candidate"),
        3: (None, "new_lead"),
    }
    assert contact.pk  # it lost to the number owner's account


# ---------------------------------------------------------------- the whole pass, either way

OTHER_CUSTOMER = "+14155559077"  # a number no record holds: a new lead


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=RECORDS,
    owned_by=st.sampled_from(["user", "team"]),
    bodies=st.lists(st.sampled_from(["hello", "are you there?", "STOP", "START"]), min_size=1, max_size=3),
    newcomer=st.booleans(),
)
def test_both_paths_write_the_same_rows_and_push_the_same_events(
    world, make_record, django_capture_on_commit_callbacks, records, owned_by, bodies, newcomer
):
    """The same messages routed by the set-based ranker and by the rules over a snapshot: everything written and
    pushed is the same (ids of rows created by the pass are compared by what they are, not by their number)."""
    from django.db import transaction

    from textdesk.live import bus
    from textdesk.messaging.inbound import router, routing_sql
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.providers.base import InboundSMS

    numbers, someone_else, owners = world
    receiving, same_owner = numbers[owned_by]
    users = {u.pk for u in (owners["number_owner"], owners["member"], owners["other"])}
    outcomes = {}
    savepoint = transaction.savepoint()
    try:
        _create(records, receiving, same_owner, someone_else, owners, make_record)
        texts = [(CUSTOMER, body) for body in bodies] + ([(OTHER_CUSTOMER, "hi")] if newcomer else [])
        store_inbound(
            receiving.provider_account_id,
            [InboundSMS(f"SMprop{i}", customer, receiving.e164, body) for i, (customer, body) in enumerate(texts)],
        )
        for path in ("set-based", "per-message"):
            local = bus.LocalBus()
            before = _last_ids()
            path_savepoint = transaction.savepoint()
            try:
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(bus, "_bus", local)
                    if path == "per-message":
                        patch.setattr(routing_sql, "available", lambda: False)
                    subscription = local.subscribe([bus.user_channel(u) for u in sorted(users)])
                    with django_capture_on_commit_callbacks(execute=True):
                        assert router.route_pending("test", limit=10) == len(texts)
                    pushed = _drain(subscription)
                outcomes[path] = _written(before, pushed)
            finally:
                transaction.savepoint_rollback(path_savepoint)
    finally:
        transaction.savepoint_rollback(savepoint)
    assert outcomes["set-based"] == outcomes["per-message"]
    routed = outcomes["set-based"]["messages"]
    assert [state for _, state, *_ in routed] == ["routed"] * len(texts)


def _drain(subscription) -> list:
    """What was published to the subscription so far (the in-process bus delivers at once)."""
    out = []
    while (item := subscription.get(0)) is not None:
        out.append(item)
    return out


def _last_ids() -> dict[str, int]:
    from django.db.models import Max

    from textdesk.crm.models import Lead
    from textdesk.messaging.models import Conversation

    return {
        "lead": Lead.objects.aggregate(m=Max("id"))["m"] or 0,
        "conversation": Conversation.objects.aggregate(m=Max("id"))["m"] or 0,
    }


def _written(before: dict[str, int], pushed: list) -> dict:
    """What the pass wrote and pushed, with the rows it created named by what they are."""
    from textdesk.crm.models import Lead
    from textdesk.messaging.models import ConsentEvent, Conversation, Message, Notification

    new_leads = {lead.pk: f"new lead {lead.mobile_phone_e164}" for lead in Lead.objects.filter(pk__gt=before["lead"])}

    def record(conversation) -> str:
        key = conversation.record_key
        lead_id = conversation.lead_id
        return new_leads.get(lead_id, key) if lead_id else key

    conversations = {}
    for c in Conversation.objects.filter(customer_e164__in=[CUSTOMER, OTHER_CUSTOMER]):
        name = (record(c), c.customer_e164, c.sender_number_id, "new" if c.pk > before["conversation"] else c.pk)
        conversations[c.pk] = (
            name,
            c.unread_count,
            c.last_message_at,
            c.last_message_preview,
            c.last_direction,
            c.last_status,
        )

    def conversation(pk):
        return None if pk is None else conversations[pk][0]

    def event(item):
        channel, data = item
        data = dict(data)
        if "conversation_id" in data:
            data["conversation_id"] = conversation(data["conversation_id"])
        return channel, data

    return {
        "conversations": sorted(conversations.values(), key=repr),
        "messages": [
            (m.pk, m.routing_state, m.routing_rule, conversation(m.conversation_id), m.sender_number_id)
            for m in Message.objects.filter(provider_message_id__startswith="SMprop").order_by("id")
        ],
        "leads": sorted(
            Lead.objects.filter(pk__gt=before["lead"]).values_list(
                "last_name", "mobile_phone_e164", "owner_user_id", "owner_team_id", "source", "is_active", "country"
            ),
            key=repr,
        ),
        "notifications": sorted(
            (
                (n.user_id, n.kind, n.title, n.body, conversation(n.conversation_id), n.message_id, n.read_at)
                for n in Notification.objects.all()
            ),
            key=repr,
        ),
        "consent": sorted(
            ConsentEvent.objects.values_list("customer_e164", "scope", "action", "source", "detail", "message_id"),
            key=repr,
        ),
        "events": [event(item) for item in pushed],
    }
