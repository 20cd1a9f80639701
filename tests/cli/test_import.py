"""``textdesk import``: real CSV files, upsert by external id, per-row errors, progress, exit code."""

from __future__ import annotations

import csv

import pytest
from django.core.management import CommandError, call_command

from textdesk.crm.models import Account, Contact, Lead, Opportunity

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(make_user, make_team):
    seller = make_user("sam")
    team = make_team("Brazil Desk", [make_user("rui")])
    return seller, team


ACCOUNTS = """
external_id,name,business_phone,country,city,owner_username,owner_team
A1,Acme Logistics,+1 415 555 0100,US,San Francisco,sam,
A2,Trópico Alimentos,(11) 3456-7890,BR,São Paulo,,Brazil Desk
"""

CONTACTS_WITH_BAD_ROWS = """
external_id,first_name,last_name,mobile_phone,email,country,account_external_id,owner_username,owner_team
C1,Alice,Moreno,+1 415 555 0134,alice@example.com,,A1,sam,
C2,Bruno,Costa,(11) 91234-5678,bruno@example.com,BR,A2,,Brazil Desk
C3,Nobody,Owner,+1 415 555 0199,,,,ghost,
C4,Bad,Email,+1 415 555 0198,not-an-email,,,sam,
C5,Two,Owners,+1 415 555 0197,,,,sam,Brazil Desk
C6,No,,+1 415 555 0196,,,,sam,
C7,Missing,Account,,,,A9,sam,
C8,Chen,Wei,415 555,,,,sam,
"""


def _import(*args):
    return call_command("import_records", *args, "--no-progress")


def test_happy_path_normalises_phones_and_links_accounts(org, write_csv, capsys):
    seller, team = org
    _import("account", str(write_csv("accounts.csv", ACCOUNTS)))
    assert "2 rows: 2 created, 0 updated, 0 failed" in capsys.readouterr().out
    tropico = Account.objects.get(external_id="A2")
    assert tropico.owner_team == team and tropico.business_phone_e164 == "+551134567890"
    assert tropico.business_phone == "(11) 3456-7890"


def test_bad_rows_are_reported_by_line_and_leave_nothing(org, write_csv, capsys, tmp_path):
    _import("account", str(write_csv("accounts.csv", ACCOUNTS)))
    capsys.readouterr()
    errors_file = tmp_path / "errors.csv"
    _import("contact", str(write_csv("contacts.csv", CONTACTS_WITH_BAD_ROWS)), "--errors", str(errors_file))
    captured = capsys.readouterr()
    assert "8 rows: 3 created, 0 updated, 5 failed" in captured.out  # rows were stored: a summary, exit status 0
    err = captured.err
    assert "contacts.csv:4: unknown user 'ghost'" in err
    assert "contacts.csv:5: email:" in err
    assert "contacts.csv:6: both owner_username and owner_team" in err
    assert "contacts.csv:7: last_name is required" in err
    assert "contacts.csv:8: no account with external id 'A9'" in err
    assert set(Contact.objects.values_list("external_id", flat=True)) == {"C1", "C2", "C8"}
    assert Contact.objects.get(external_id="C2").mobile_phone_e164 == "+5511912345678"
    invalid = Contact.objects.get(external_id="C8")
    assert invalid.mobile_phone == "415 555" and invalid.mobile_phone_e164 == ""
    with open(errors_file, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["line"] for r in rows] == ["4", "5", "6", "7", "8"]
    assert rows[0]["external_id"] == "C3" and "ghost" in rows[0]["reason"]


def test_importing_the_same_file_twice_changes_nothing(org, write_csv, capsys):
    path = str(write_csv("accounts.csv", ACCOUNTS))
    _import("account", path)
    before = list(Account.objects.order_by("pk").values())
    _import("account", path)
    assert "2 rows: 0 created, 2 updated, 0 failed" in capsys.readouterr().out
    after = list(Account.objects.order_by("pk").values())
    assert [{k: v for k, v in r.items() if k != "modified_at"} for r in before] == [
        {k: v for k, v in r.items() if k != "modified_at"} for r in after
    ]


def test_upsert_updates_the_existing_record(org, write_csv):
    _import("account", str(write_csv("a.csv", ACCOUNTS)))
    _import("account", str(write_csv("b.csv", "external_id,name,city\nA1,Acme Logistics Inc.,Oakland\n")))
    acme = Account.objects.get(external_id="A1")
    assert (acme.name, acme.city, acme.owner_user.username) == ("Acme Logistics Inc.", "Oakland", "sam")


def test_rows_without_external_id_are_created_and_default_owner(org, write_csv):
    path = write_csv(
        "leads.csv", "first_name,last_name,company_name,mobile_phone\nDana,Silva,,+1 415 555 0177\n,,Silva SA,\n,,,\n"
    )
    _import("lead", str(path), "--owner", "sam")
    leads = Lead.objects.order_by("pk")
    assert [lead.source for lead in leads] == ["import", "import"]
    assert leads[0].owner_user.username == "sam" and leads[0].mobile_phone_e164 == "+14155550177"


def test_lead_without_name_or_company_and_row_without_owner_fail(org, write_csv, capsys):
    path = write_csv("leads.csv", "first_name,last_name,company_name,owner_username\nDana,,,sam\nEve,Ng,,\n")
    with pytest.raises(CommandError):
        _import("lead", str(path))
    err = capsys.readouterr().err
    assert "leads.csv:2: a lead needs a last_name or a company_name" in err
    assert "leads.csv:3: owner: A record needs an owner" in err
    assert not Lead.objects.exists()


def test_opportunities_with_customer_and_related_contacts(org, write_csv):
    _import("account", str(write_csv("a.csv", ACCOUNTS)))
    _import("contact", str(write_csv("c.csv", "external_id,last_name,owner_username\nC1,Moreno,sam\nC2,Costa,sam\n")))
    path = write_csv(
        "o.csv",
        (
            "external_id,name,account_external_id,related_contact_external_ids,estimated_value,estimated_close_date,owner_username\n"
            "O1,Fleet renewal,A1,C1;C2,48000.00,2027-03-31,sam\n"
            "O2,Bad value,A1,,lots,,sam\n"
            "O3,Bad date,A1,,,31/03/2027,sam\n"
        ),
    )
    _import("opportunity", str(path))
    opp = Opportunity.objects.get()
    assert opp.account.external_id == "A1" and opp.estimated_value == 48000
    assert sorted(opp.contacts.values_list("external_id", flat=True)) == ["C1", "C2"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("name,colour\nAcme,red\n", "Unknown column colour"),
        ("external_id,city\nA1,Rome\n", "Missing column name"),
        ("", "The file is empty"),
    ],
)
def test_wrong_files_are_refused_before_any_row(org, write_csv, text, message):
    with pytest.raises(CommandError, match=message):
        _import("account", str(write_csv("bad.csv", text)))
    assert not Account.objects.exists()


def test_a_row_with_more_cells_than_columns_is_reported(org, write_csv, capsys):
    _import("account", str(write_csv("a.csv", "name,owner_username\nAcme,sam,extra\nBeta,sam\n")))
    assert "a.csv:2: the row has 3 cells but the header has 2 columns" in capsys.readouterr().err
    assert list(Account.objects.values_list("name", flat=True)) == ["Beta"]


def test_multiline_cells_keep_line_numbers_right(org, write_csv, capsys):
    text = 'name,city,owner_username\n"Acme\nLogistics",Rome,sam\nBad,Rome,ghost\n'
    _import("account", str(write_csv("a.csv", text)))
    assert "a.csv:4: unknown user 'ghost'" in capsys.readouterr().err


def test_large_file_with_progress_bar(org, write_csv, capsys):
    rows = ["external_id,first_name,last_name,mobile_phone,owner_username"]
    rows += [f"L{n},Lead,Number {n},+1 415 555 {n % 10000:04d},sam" for n in range(5000)]
    path = write_csv("big.csv", "\n".join(rows) + "\n")
    call_command("import_records", "lead", str(path))
    captured = capsys.readouterr()
    assert "5000 rows: 5000 created, 0 updated, 0 failed" in captured.out
    assert "5000/5000" in captured.err
    assert Lead.objects.count() == 5000
    assert Lead.objects.filter(mobile_phone_e164="+14155550042").count() == 1


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        _import("account", str(tmp_path / "nope.csv"))


# What Excel writes in Brazil, Italy and Spain: ";" between cells, often Windows Latin-1, sometimes a BOM.
EXCEL_CONTACTS = (
    "external_id;first_name;last_name;mobile_phone;country;owner_username\r\n"
    "C1;João;Conceição;(11) 91234-5678;BR;sam\r\n"
    "C2;Chiara;Bianchi;347 123 4567;IT;sam\r\n"
)


@pytest.mark.parametrize(
    "encoding,bom",
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp1252", b""), ("utf-16-le", b"\xff\xfe")],
    ids=["utf-8", "utf-8-bom", "latin-1", "utf-16-bom"],
)
def test_semicolon_files_in_any_common_encoding_import_without_options(org, tmp_path, capsys, encoding, bom):
    path = tmp_path / "contatos.csv"
    path.write_bytes(bom + EXCEL_CONTACTS.encode(encoding))
    _import("contact", str(path))
    assert "2 rows: 2 created, 0 updated, 0 failed" in capsys.readouterr().out
    joao = Contact.objects.get(external_id="C1")
    assert (joao.first_name, joao.last_name, joao.mobile_phone_e164) == ("João", "Conceição", "+5511912345678")
    assert Contact.objects.get(external_id="C2").mobile_phone_e164 == "+393471234567"


def test_a_row_with_too_few_cells_is_reported_as_such(org, write_csv, capsys):
    _import("account", str(write_csv("a.csv", "name;city;owner_username\nAcme;sam\nBeta;Rome;sam\n")))
    err = capsys.readouterr().err
    assert "a.csv:2: the row has 2 cells but the header has 3 columns" in err
    assert "owner" not in err.split("a.csv:2:")[1].splitlines()[0]  # not a misleading "needs an owner"
    assert list(Account.objects.values_list("name", flat=True)) == ["Beta"]


def test_unreadable_numbers_are_counted_and_listed(org, write_csv, capsys):
    path = write_csv(
        "leads.csv",
        "last_name,mobile_phone,business_phone,owner_username\nAna,n/a,,sam\nBia,123,+1 415 555 0101,sam\n"
        "Caio,+1 415 555 0102,,sam\n",
    )
    _import("lead", str(path))
    captured = capsys.readouterr()
    assert "3 rows: 3 created, 0 updated, 0 failed; 2 phone numbers cannot be texted" in captured.out
    assert "leads.csv:2: warning: mobile_phone 'n/a' is not a phone number that can be texted" in captured.err
    assert "leads.csv:3: warning: mobile_phone '123' is not a phone number that can be texted" in captured.err
    assert Lead.objects.count() == 3


def test_rejected_rows_are_written_beside_the_file_and_strict_fails(org, write_csv, capsys):
    path = write_csv("accounts.csv", "name,owner_username\nAcme,sam\nBad,ghost\n")
    _import("account", str(path))
    rejected = path.with_name("accounts.rejected.csv")
    assert "rejected rows written to" in capsys.readouterr().out
    with open(rejected, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["name"]) for r in rows] == [("3", "Bad")] and "ghost" in rows[0]["reason"]
    with pytest.raises(CommandError, match="1 failed"):
        _import("account", str(path), "--strict")


def test_nothing_imported_is_a_failure(org, write_csv):
    with pytest.raises(CommandError, match="nothing was imported"):
        _import("account", str(write_csv("a.csv", "name,owner_username\nAcme,ghost\n")))


def test_problems_are_reported_while_the_import_runs(org):
    from textdesk.crm.importing import import_rows, parse_csv

    csv_file = parse_csv(b"last_name,owner_username\nAna,ghost\nBia,sam\nCaio,sam\n", "lead")
    seen_at: list[int] = []
    import_rows("lead", csv_file.rows(), on_problem=lambda problem: seen_at.append(Lead.objects.count()))
    assert seen_at == [0]  # heard of the bad first row before the later rows were stored
    assert Lead.objects.count() == 2


CONTACTS_WITH_CONSENT = """
external_id,first_name,last_name,mobile_phone,owner_username,consent_purpose,consent,consent_date,consent_wording,consent_legal_basis
K1,Alice,Moreno,+1 415 555 0134,sam,marketing,granted,2026-03-01,Offers by text? Reply YES,consent
K2,Bruno,Costa,+1 415 555 0135,sam,transactional,revoked,2026-03-02 10:30,,
K3,Carla,Dias,+1 415 555 0136,sam,,,,,
K4,Dora,Lima,+1 415 555 0137,sam,marketing,maybe,,,
K5,Eva,Neri,,sam,marketing,granted,,,
K6,Fabio,Rossi,+1 415 555 0138,sam,marketing,granted,2026-02-30,,
"""


def test_consent_columns_go_to_the_ledger_with_the_row_or_not_at_all(org, write_csv, capsys):
    """Each consent is recorded by method "import" for the row's number, by the user named; a bad consent
    rejects its row (record included); importing the file again adds nothing."""
    from textdesk.compliance.models import ConsentRecord
    from textdesk.messaging.actions.consent import is_opted_out

    seller, _team = org
    path = str(write_csv("consents.csv", CONTACTS_WITH_CONSENT))
    _import("contact", path, "--recorded-by", "sam")
    captured = capsys.readouterr()
    assert "6 rows: 3 created, 0 updated, 3 failed" in captured.out
    assert "consent 'maybe' is neither granted nor revoked" in captured.err
    assert "a consent needs a mobile_phone or business_phone that can be texted" in captured.err
    assert "consent_date '2026-02-30' is not a date" in captured.err
    assert not Contact.objects.filter(external_id__in=["K4", "K5", "K6"]).exists()  # nothing half-written

    marketing = ConsentRecord.objects.get(customer_e164="+14155550134")
    assert (marketing.purpose, marketing.granted, marketing.method) == ("marketing", True, "import")
    assert marketing.wording == "Offers by text? Reply YES" and marketing.legal_basis == "consent"
    assert marketing.recorded_by == seller and marketing.at.date().isoformat() == "2026-03-01"
    assert "consents.csv, line 2" in marketing.note
    revoked = ConsentRecord.objects.get(customer_e164="+14155550135")
    assert (revoked.purpose, revoked.granted, revoked.at.hour) == ("transactional", False, 10)
    assert is_opted_out("+14155550135", "+14155550100")  # a revoked transactional consent is an opt-out
    assert not ConsentRecord.objects.filter(customer_e164="+14155550136").exists()

    _import("contact", path, "--recorded-by", "sam")
    assert ConsentRecord.objects.count() == 2


def test_an_unknown_recorder_stops_the_import_before_any_row(org, write_csv):
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        _import("contact", str(write_csv("consents.csv", CONTACTS_WITH_CONSENT)), "--recorded-by", "ghost")
    assert not Contact.objects.exists()


def test_consent_columns_are_listed_in_the_help():
    from textdesk.crm.importing import columns_help

    text = columns_help()
    assert "consent_purpose" in text and "consent_legal_basis" in text
