"""A person's export and erasure (API, command line, admin site) and the retention policy."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
from django.test import Client
from django.utils import timezone

CUSTOMER = "+5511912345678"
OTHER = "+5511987654321"


@pytest.fixture
def world(people, make_sender_number, make_record):
    """A seller's conversation with the customer (in and out), and another customer's, untouched by erasure."""
    from textdesk.messaging.actions.consent import record_consent
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.messaging.outbound.send import send_message
    from textdesk.providers.base import InboundSMS

    number = make_sender_number("+14155550100", owner=people.seller)
    contact = make_record(
        "contact", people.seller, mobile_phone=CUSTOMER, country="BR", first_name="Ana", last_name="Moreno"
    )
    other = make_record("contact", people.seller, mobile_phone=OTHER, country="BR", last_name="Other")
    for record, to in ((contact, CUSTOMER), (other, OTHER)):
        send_message(user=people.seller, record=record, sender_number=number, to_number=to, body=f"Hello {to}")
    store_inbound(
        number.provider_account_id, [InboundSMS("SMpd1", CUSTOMER, number.e164, "My secret address is 1 Main St")]
    )
    route_pending("test")
    record_consent(CUSTOMER, number.e164, "opt_out", "keyword", detail="stop")
    return number, contact, other


def test_export_holds_records_messages_consents_and_audit_in_json_and_csv(people, world, client_for):
    answer = client_for(people.admin).post("/persons/export", {"number": CUSTOMER})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert {"person.json", "messages.csv", "records.csv", "consents.csv", "audit_events.csv"} <= set(archive.namelist())
    data = json.loads(archive.read("person.json"))
    bodies = {m["body"] for m in data["messages"]}
    assert bodies == {f"Hello {CUSTOMER}", "My secret address is 1 Main St"}  # never the other customer's
    assert data["records"][0]["last_name"] == "Moreno" and data["opt_outs"][0]["opted_out"]
    rows = list(csv.DictReader(io.StringIO(archive.read("messages.csv").decode())))
    assert len(rows) == 2
    from textdesk.compliance.models import AuditEvent

    assert AuditEvent.objects.filter(action="exported", actor=people.admin, target_id=CUSTOMER).exists()
    assert client_for(people.manager).post("/persons/export", {"number": CUSTOMER}).status_code == 403


def test_erasure_removes_the_messages_everywhere_and_the_hashed_opt_out_still_blocks(people, world, client_for):
    from textdesk.compliance.models import AuditEvent, ErasedNumber
    from textdesk.crm.models import Contact
    from textdesk.messaging.models import Message
    from textdesk.messaging.outbound.send import SendRefused, send_message

    number, contact, other = world
    seller, admin = client_for(people.seller), client_for(people.admin)
    assert client_for(people.seller).post("/persons/erase", {"number": CUSTOMER}).status_code == 403
    erased = admin.post("/persons/erase", {"number": CUSTOMER})
    assert erased.status_code == 200 and erased.json()["messages"] == 2

    conversations = seller.get("/conversations").json()["items"]
    assert CUSTOMER not in json.dumps(conversations) and OTHER in json.dumps(conversations)
    assert not Message.objects.filter(body__contains="secret address").exists()
    web = Client()
    web.force_login(people.seller)
    listing = web.get("/messages/").content.decode()
    assert CUSTOMER not in listing and "secret address" not in listing
    export = json.loads(
        zipfile.ZipFile(io.BytesIO(admin.post("/persons/export", {"number": CUSTOMER}).content)).read("person.json")
    )
    assert export["messages"] == [] and export["consents"] == [] and export["opt_outs"] == []
    anonymised = Contact.objects.get(pk=contact.pk)
    assert anonymised.first_name == "" and anonymised.mobile_phone == "" and anonymised.last_name == "(erased)"
    assert not AuditEvent.objects.filter(target_id=CUSTOMER).exclude(action="exported").exists()
    assert AuditEvent.objects.filter(action="erased", actor=people.admin).exists()
    assert ErasedNumber.objects.count() == 1 and CUSTOMER not in ErasedNumber.objects.get().number_hash

    with pytest.raises(SendRefused) as refused:
        send_message(user=people.seller, record=other, sender_number=number, to_number=CUSTOMER, body="Hi again")
    assert refused.value.reason == "RecipientOptedOut"


def test_the_command_line_exports_and_erases(people, world, tmp_path, capsys):
    from django.core.management import call_command

    from textdesk import cli
    from textdesk.compliance.models import AuditEvent
    from textdesk.messaging.models import Message

    assert {"export-person", "erase-person"} <= set(cli.OWN_COMMANDS)  # listed by `textdesk --help`
    target = tmp_path / "ana.zip"
    call_command("export_person", CUSTOMER, "--output", str(target))
    assert "person.json" in zipfile.ZipFile(target).namelist()
    call_command("erase_person", CUSTOMER)  # without --yes: only says what would go
    assert "would erase 2 messages" in capsys.readouterr().out
    call_command("erase_person", CUSTOMER, "--yes")
    assert not Message.objects.filter(conversation__customer_e164=CUSTOMER).exists()
    assert {"exported", "erased"} <= set(AuditEvent.objects.values_list("action", flat=True))


def test_the_admin_site_exports_and_erases(people, world):
    from textdesk.messaging.models import Message

    people.admin.is_staff = True
    people.admin.save()
    web = Client()
    web.force_login(people.admin)
    assert "Export" in web.get("/admin/compliance/compliancesettings/person/").content.decode()
    download = web.post("/admin/compliance/compliancesettings/person/", {"number": CUSTOMER, "export": "1"})
    assert download["Content-Type"] == "application/zip"
    web.post("/admin/compliance/compliancesettings/person/", {"number": CUSTOMER, "erase": "1"})
    assert not Message.objects.filter(to_number=CUSTOMER).exists()


def test_retention_counts_first_then_deletes_or_anonymises_old_messages(people, world, client_for):
    from django.core.management import call_command

    from textdesk.compliance.actions import retention
    from textdesk.compliance.models import AuditEvent, ComplianceSettings
    from textdesk.messaging.models import Message

    old = timezone.now() - dt.timedelta(days=40)
    Message.objects.filter(to_number=OTHER).update(created_at=old)
    ComplianceSettings.objects.update_or_create(
        pk=1, defaults={"message_retention_days": 30, "message_retention_action": "anonymise"}
    )
    assert client_for(people.admin).get("/retention").json() == {
        "messages": 1,
        "action": "anonymise",
        "audit_events": 0,
        "dry_run": True,
    }
    assert Message.objects.filter(to_number=OTHER).exists()  # the dry run changed nothing
    call_command("apply_retention")
    assert (
        not Message.objects.filter(body=f"Hello {OTHER}").exists()
        and Message.objects.filter(body=f"Hello {CUSTOMER}").exists()
    )
    assert retention.apply(dry_run=True).messages == 0  # anonymised once, not counted again
    ComplianceSettings.objects.filter(pk=1).update(message_retention_action="delete", audit_retention_days=10)
    AuditEvent.objects.filter(pk=AuditEvent.objects.order_by("pk").first().pk).update(at=old)
    result = retention.apply()
    assert result.messages == 1 and result.audit_events == 1
    assert AuditEvent.objects.filter(action="retention").count() == 2


def test_the_textdesk_command_knows_both_commands():
    import os
    import subprocess
    import sys

    for name in ("export-person", "erase-person"):
        shown = subprocess.run(
            [sys.executable, "-m", "textdesk", name, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ,
        )
        assert shown.returncode == 0 and "E.164" in shown.stdout, shown.stderr
