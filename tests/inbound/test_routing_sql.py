"""The set-based routing of PostgreSQL ranks candidates in SQL; it must pick the record the pure rules pick
(textdesk.domain.routing.choose_record over the candidates the per-message path gathers) and name the same rule."""

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

    from textdesk.domain.routing import choose_record
    from textdesk.messaging.inbound import router, routing_sql

    numbers, someone_else, owners = world
    receiving, same_owner = numbers[owned_by]
    savepoint = transaction.savepoint()
    try:
        _create(records, receiving, same_owner, someone_else, owners, make_record)
        expected = choose_record(router.gather_candidates(CUSTOMER, receiving), router.receiving_number(receiving))
        message = routing_sql.Pending(1, CUSTOMER, receiving.e164, "hello", "", timezone.now())
        got = routing_sql.choose([(message, receiving, CUSTOMER)]).get(1)
    finally:
        transaction.savepoint_rollback(savepoint)
    if expected.candidate is None:
        assert got is None
    else:
        winner = expected.candidate
        assert got == (winner.record_type, winner.record_id, winner.owner_user_id, winner.owner_team_id, expected.rule)


def test_each_message_of_a_batch_is_ranked_on_its_own(world, make_record):
    """Two customers in one statement: each gets its own winner (or none: a new lead)."""
    from django.utils import timezone

    from textdesk.messaging.inbound import routing_sql

    numbers, _, owners = world
    receiving = numbers["user"][0]
    contact = make_record("contact", owners["other"], mobile_phone=CUSTOMER)
    lead = make_record("lead", owners["number_owner"], mobile_phone="+14155559001")
    account = make_record("account", owners["number_owner"], business_phone=CUSTOMER)
    batch = [
        (routing_sql.Pending(i, customer, receiving.e164, "hi", "", timezone.now()), receiving, customer)
        for i, customer in enumerate([CUSTOMER, "+14155559001", "+14155559002"], start=1)
    ]
    assert routing_sql.choose(batch) == {
        1: ("account", account.pk, owners["number_owner"].pk, None, "owned_by_number_owner"),
        2: ("lead", lead.pk, owners["number_owner"].pk, None, "only_candidate"),
    }
    assert contact.pk  # it lost to the number owner's account
