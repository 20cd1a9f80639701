"""The set-based routing of PostgreSQL ranks candidates in SQL; it must reach the decision the pure rules reach
(textdesk.domain.routing.choose_record over the snapshot the per-message path reads): the same record, the same
deciding rule. And a pass routed either way must leave the same rows behind (conversation, the message's routing
fields, a new lead, notifications, consent) and push the same live events; and what it leaves and pushes must be
what the pure decisions say (each round's decision, by the rules, read from the database as the round saw it)."""

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
    assistant = make_user("assistant", role=None)  # may not receive texts: told whom to ask, pushed nothing
    team = make_team("Desk", members=[member, assistant])
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
    users = {u.pk for u in (owners["number_owner"], owners["member"], owners["other"], *owners["team"].members.all())}
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
                    rounds = _record_decisions(patch, router)
                    subscription = local.subscribe([bus.user_channel(u) for u in sorted(users)])
                    with django_capture_on_commit_callbacks(execute=True):
                        assert router.route_pending("test", limit=10) == len(texts)
                    pushed = _drain(subscription)
                outcomes[path] = _written(before, pushed)
                assert _as_decided(before, pushed) == _what_the_decisions_say(
                    rounds, before, receiving, owners, texts
                ), path
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


# ---------------------------------------------------------------- the pass held to the pure decisions


def _record_decisions(patch, router) -> list[list[tuple]]:
    """Have every round's ranker checked against the pure rules over the database as that round sees it, and keep
    each round's (message id, customer, decision) for the expectations."""
    rounds: list[list[tuple]] = []
    path_ranker = router.ranker()

    def checked(chosen):
        got = path_ranker(chosen)
        by_rules = router.rank_by_rules(chosen)
        assert got == by_rules  # later rounds too: they see what the earlier ones created
        rounds.append([(r.message.id, r.customer, by_rules[r.message.id]) for r in chosen])
        return got

    patch.setattr(router, "ranker", lambda: checked)
    return rounds


def _what_the_decisions_say(rounds, before, receiving, owners, texts) -> dict:
    """The rows and events the rounds' decisions call for, derived from the decisions and the domain rules only
    (who hears about a conversation: domain.audience; a new lead is owned as its number is)."""
    from textdesk.domain import audience
    from textdesk.domain.routing import NEW_LEAD
    from textdesk.domain.visibility import Ownership
    from textdesk.live import bus
    from textdesk.org.models import User

    team = owners["team"]
    members = {team.pk: set(team.members.values_list("id", flat=True))}
    may_receive = {u.pk: u.has_perm("org.receive_inbound_messages") for u in User.objects.filter(is_active=True)}
    number = Ownership(receiving.owner_user_id, receiving.owner_team_id)
    body_of = {f"SMprop{i}": body for i, (_, body) in enumerate(texts)}
    ids = _message_ids()
    body_by_id = {pk: body_of[provider_id] for provider_id, pk in ids.items()}

    messages, conversations, notifications, events, new_leads = [], {}, [], [], set()
    unread: dict[int, int] = {}
    lead_of: dict[str, str] = {}  # customer → the new lead's name, once a round created it
    for decided in rounds:
        notified = set()
        for message_id, customer, decision in decided:
            if decision.candidate is None:
                assert decision.rule == NEW_LEAD
                record_name = lead_of.setdefault(customer, f"new lead {customer}")
                new_leads.add((customer, receiving.owner_user_id, receiving.owner_team_id, "inbound_text"))
                record = number
            elif decision.candidate.record_type == "lead" and decision.candidate.record_id > before["lead"]:
                record_name = lead_of[customer]  # the lead an earlier round created for this customer
                record = Ownership(decision.candidate.owner_user_id, decision.candidate.owner_team_id)
            else:
                record_name = "{}:{}".format(*decision.candidate.key)
                record = Ownership(decision.candidate.owner_user_id, decision.candidate.owner_team_id)
            conversation = (record_name, customer, receiving.pk)
            messages.append((message_id, "routed", decision.rule, conversation, receiving.pk))
            count = conversations[conversation][0] if conversation in conversations else 0
            conversations[conversation] = (count + 1, body_by_id[message_id][:160], "inbound", "received")
            told = sorted(audience.owners(number, members))
            for user_id in told:
                linked = may_receive[user_id]
                notifications.append(
                    (
                        user_id,
                        "inbound_message" if linked else "missing_privilege",
                        conversation if linked else None,
                        message_id if linked else None,
                    )
                )
                unread[user_id] = unread.get(user_id, 0) + 1
                notified.add(user_id)
            hears = audience.audience(number, record, members)
            for user_id in sorted(u for u in hears if may_receive[u]):
                news = {"event": "message.new", "conversation_id": conversation, "message_id": message_id}
                events.append((bus.user_channel(user_id), news))
        for user_id in sorted(notified):
            events.append((bus.user_channel(user_id), {"event": "notification.new", "unread": unread[user_id]}))
    return {
        "messages": sorted(messages),
        "conversations": conversations,
        "new leads": sorted(new_leads, key=repr),
        "notifications": sorted(notifications, key=repr),
        "events": sorted(events, key=repr),
    }


def _message_ids() -> dict[str, int]:
    from textdesk.messaging.models import Message

    return dict(
        Message.objects.filter(provider_message_id__startswith="SMprop").values_list("provider_message_id", "id")
    )


def _as_decided(before: dict[str, int], pushed: list) -> dict:
    """What the pass wrote and pushed, in the terms of :func:`_what_the_decisions_say`."""
    from textdesk.crm.models import Lead
    from textdesk.messaging.models import Conversation, Message, Notification

    new_leads = {
        lead.pk: (f"new lead {lead.mobile_phone_e164}", lead) for lead in Lead.objects.filter(pk__gt=before["lead"])
    }

    def name(c: Conversation) -> tuple:
        record = new_leads[c.lead_id][0] if c.lead_id in new_leads else c.record_key
        return (record, c.customer_e164, c.sender_number_id)

    ours = Message.objects.filter(provider_message_id__startswith="SMprop")
    touched = {m.conversation_id for m in ours}
    by_id = {c.pk: c for c in Conversation.objects.filter(pk__in=touched)}
    named = {pk: name(c) for pk, c in by_id.items()}

    def conversation(pk):
        return None if pk is None else named.get(pk, ("another conversation", pk))

    def event(item):
        channel, data = item
        data = dict(data)
        if "conversation_id" in data:
            data["conversation_id"] = conversation(data["conversation_id"])
        return channel, data

    return {
        "messages": sorted(
            (m.pk, m.routing_state, m.routing_rule, conversation(m.conversation_id), m.sender_number_id) for m in ours
        ),
        # (the conversations the test set up had nothing unread)
        "conversations": {
            named[pk]: (c.unread_count, c.last_message_preview, c.last_direction, c.last_status)
            for pk, c in by_id.items()
        },
        "new leads": sorted(
            (
                (lead.mobile_phone_e164, lead.owner_user_id, lead.owner_team_id, lead.source)
                for _, lead in new_leads.values()
            ),
            key=repr,
        ),
        "notifications": sorted(
            (
                (n.user_id, n.kind, conversation(n.conversation_id), n.message_id)
                for n in Notification.objects.filter(kind__in=["inbound_message", "missing_privilege"])
            ),
            key=repr,
        ),
        "events": sorted((event(item) for item in pushed), key=repr),
    }
