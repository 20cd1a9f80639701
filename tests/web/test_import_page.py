"""Administrators import CSV files from the web app: upload, progress, report, rejected rows to download."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from textdesk.crm.models import Contact, ImportRun
from textdesk.org.roles import SALESPERSON, SYSTEM_ADMINISTRATOR

pytestmark = pytest.mark.django_db

# Semicolons and Windows Latin-1, as Excel writes them in Brazil: recognised without any option.
FILE = (
    "external_id;first_name;last_name;mobile_phone;country;owner_username\r\n"
    "C1;João;Conceição;(11) 91234-5678;BR;\r\n"
    "C2;Ana;Souza;n/a;BR;\r\n"
    "C3;Rui;Ghost;(11) 90000-0000;BR;nobody\r\n"
    "C4;Lia;;;BR\r\n"
).encode("cp1252")


def _run_jobs():
    from textdesk.jobs import worker

    worker.load_handlers()
    while worker.run_once("import-test"):
        pass


def test_an_administrator_imports_a_file_and_sees_the_report(client, make_user):
    admin = make_user("ada", role=SYSTEM_ADMINISTRATOR)
    client.force_login(admin)
    page = client.get("/settings/import/")
    assert page.status_code == 200 and "No import yet" in page.content.decode()

    answer = client.post("/settings/import/", {"kind": "contact", "file": SimpleUploadedFile("contatos.csv", FILE)})
    assert answer.status_code == 302
    run = ImportRun.objects.get()
    assert run.total_rows == 4 and run.state == ImportRun.State.QUEUED
    waiting = client.get(answer["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in waiting and "0 of 4 rows" in waiting  # the page polls while it runs

    _run_jobs()
    report = client.get(answer["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in report  # finished: no more polling
    assert "2 created, 0 updated, 2 rejected" in report
    assert "1 phone number cannot be texted" in report
    assert "4: unknown user &#x27;nobody&#x27;" in report
    assert "5: the row has 5 cells but the header has 6 columns" in report
    assert Contact.objects.get(external_id="C1").owner_user == admin  # no owner given: the importer's

    rejected = client.get(f"/settings/import/{run.pk}/rejected.csv")
    assert rejected["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(rejected.content.decode())))
    assert [r["line"] for r in rows] == ["4", "5"] and rows[0]["external_id"] == "C3"


def test_a_file_with_unknown_columns_is_refused_at_once(client, make_user):
    client.force_login(make_user("ada", role=SYSTEM_ADMINISTRATOR))
    bad = SimpleUploadedFile("x.csv", b"name;colour\nAcme;red\n")
    answer = client.post("/settings/import/", {"kind": "account", "file": bad})
    assert answer.status_code == 422 and "Unknown column colour" in answer.content.decode()
    assert not ImportRun.objects.exists()


def test_sellers_cannot_import(client, make_user):
    seller = make_user("sam", role=SALESPERSON)
    client.force_login(seller)
    assert client.get("/settings/import/").status_code == 403
    answer = client.post("/settings/import/", {"kind": "contact", "file": SimpleUploadedFile("c.csv", FILE)})
    assert answer.status_code == 403 and not ImportRun.objects.exists()
    assert "/settings/import/" not in client.get("/messages/").content.decode()  # no menu entry either


def test_consents_imported_from_the_web_name_the_administrator_who_imported_them(client, make_user):
    from textdesk.compliance.models import ConsentRecord

    admin = make_user("ada", role=SYSTEM_ADMINISTRATOR)
    client.force_login(admin)
    page = client.get("/settings/import/").content.decode()
    assert "consent_purpose" in page and "consent_wording" in page  # the columns are listed on the page
    content = (
        b"last_name,mobile_phone,consent_purpose,consent,consent_wording\n"
        b"Moreno,+1 415 555 0134,marketing,granted,Offers by text\n"
        b"Costa,+1 415 555 0135,marketing,sometimes,\n"
    )
    answer = client.post("/settings/import/", {"kind": "contact", "file": SimpleUploadedFile("leads.csv", content)})
    assert answer.status_code == 302
    _run_jobs()
    report = client.get(answer["Location"]).content.decode()
    assert "1 created, 0 updated, 1 rejected" in report
    assert "3: consent &#x27;sometimes&#x27; is neither granted nor revoked" in report
    entry = ConsentRecord.objects.get()
    assert (entry.customer_e164, entry.method, entry.recorded_by, entry.wording) == (
        "+14155550134",
        "import",
        admin,
        "Offers by text",
    )
    assert not Contact.objects.filter(last_name="Costa").exists()
