"""The message table's partial indexes: the queries that need them still use them, and the idempotency key stays
unique where it exists (outbound) while inbound messages store none."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from textdesk.messaging.inbound import intake
from textdesk.messaging.models import Message
from textdesk.providers.base import InboundSMS


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table would be scanned otherwise
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row) for row in cursor.fetchall())


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize(
    "query, index",
    [
        (lambda: Message.objects.filter(conversation_id=7).order_by("created_at"), "message_conv_time"),
        (lambda: Message.objects.filter(status="failed"), "message_status"),
        (lambda: Message.objects.filter(sender_number_id=3), "message_sender"),
        (lambda: Message.objects.filter(author_id=5), "message_author"),
        (lambda: Message.objects.filter(routing_state="pending").order_by("id"), "message_routing_pending"),
    ],
)
def test_the_queries_of_a_partial_index_imply_its_condition(query, index):
    if index == "message_status" and connection.vendor == "sqlite":
        pytest.skip("SQLite proves only IS NOT NULL conditions, not status <> 'received' (small tables: no matter)")
    assert index in _plan(query())


@pytest.mark.django_db
def test_inbound_messages_have_no_idempotency_key_and_outbound_keys_stay_unique(seller_setup):
    account = seller_setup.account
    sms = InboundSMS(
        provider_message_id="SM-key-1", from_number="+14155550199", to_number=seller_setup.number.e164, body="hello"
    )
    intake.store_parsed(account.pk, [sms], [])
    assert Message.objects.get(provider_message_id="SM-key-1").idempotency_key is None

    first = Message.objects.create(
        direction="outbound", provider_account=account, from_number="+1", to_number="+2", status="queued"
    )
    assert first.idempotency_key is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            direction="outbound",
            provider_account=account,
            from_number="+1",
            to_number="+2",
            status="queued",
            idempotency_key=first.idempotency_key,
        )
