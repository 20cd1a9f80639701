"""Records with an empty phone field: stored as NULL, never a match, and no weight on the ranking statement's plan
(on data where most business phones are empty, PostgreSQL scanned whole tables per batch)."""

from __future__ import annotations

import pytest

CUSTOMER = "+14155550199"


def test_an_empty_or_unreadable_phone_is_stored_as_null_and_read_as_empty(make_user, make_record):
    from django.db import connection

    from textdesk.crm.models import Contact

    contact = make_record("contact", make_user("owner"), mobile_phone=CUSTOMER, business_phone="n/a")
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile_phone_e164, business_phone_e164 FROM crm_contact WHERE id = %s", [contact.pk])
        assert cursor.fetchone() == (CUSTOMER, None)
    again = Contact.objects.get(pk=contact.pk)
    assert (again.mobile_phone_e164, again.business_phone_e164, again.business_phone) == (CUSTOMER, "", "n/a")
    assert [p["is_valid"] for p in again.phone_numbers()] == [False, True]


@pytest.fixture
def mostly_empty_phones(make_user, make_record):
    """3,000 contacts, 90% of them without a business phone."""
    from django.db import connection

    from textdesk.crm.models import Contact

    if connection.vendor != "postgresql":
        pytest.skip("the ranking statement is PostgreSQL's")
    owner = make_user("owner")
    contacts = [
        Contact(
            last_name=f"C{n}",
            owner_user=owner,
            mobile_phone=f"+1415556{n:04d}",
            business_phone=(f"+1415557{n:04d}" if n % 10 == 0 else ""),
        )
        for n in range(3000)
    ]
    for contact in contacts:
        contact.derive_fields()
    Contact.objects.bulk_create(contacts)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_contact")


def test_the_ranking_statement_looks_phones_up_by_index_and_without_jit(
    mostly_empty_phones, make_sender_number, make_user
):
    """Its generic plan (the one routing runs) reads each phone column through its partial index, whatever the
    fill rate, and the routing transaction never compiles it (JIT)."""
    from django.db import connection, transaction

    from textdesk.messaging.inbound import routing_sql

    number = make_sender_number(e164="+14155550100", owner=make_user("seller"))
    with transaction.atomic(), connection.cursor() as cursor:
        routing_sql.claim(1)  # sets up the routing transaction
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
        cursor.execute(
            "PREPARE ranking (bigint[], text[], bigint[]) AS "
            + routing_sql.CHOOSE.replace("%s::bigint[]", "$1", 1)
            .replace("%s::text[]", "$2", 1)
            .replace("%s::bigint[]", "$3", 1)
        )
        cursor.execute(
            "EXPLAIN EXECUTE ranking (%s, %s, %s)",
            [[1, 2], ["+14155560010", "+14155579999"], [number.pk, number.pk]],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE ranking")
    assert "Seq Scan on crm_contact" not in plan, plan
    assert "crm_contact_bus_e164" in plan and "crm_contact_mob_e164" in plan, plan
