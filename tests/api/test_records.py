"""CRM records over the API: CRUD, role checks, upsert by external id, phone normalisation, errors."""

from __future__ import annotations

import pytest

from textdesk.crm.models import Account, Contact, Lead, Opportunity

pytestmark = pytest.mark.django_db


def test_post_contact_with_national_number_returns_e164(people, client_for):
    api = client_for(people.seller)
    response = api.post(
        "/contacts",
        {
            "last_name": "Costa",
            "first_name": "Bruno",
            "mobile_phone": "(11) 91234-5678",
            "country": "BR",
            "owner_user_id": people.seller.pk,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mobile_phone"] == {"raw": "(11) 91234-5678", "e164": "+5511912345678", "is_valid": True}
    assert body["business_phone"] == {"raw": "", "e164": "", "is_valid": False}
    assert Contact.objects.get(pk=body["id"]).mobile_phone_e164 == "+5511912345678"


def test_national_number_uses_default_region_without_country(people, client_for, settings):
    settings.DEFAULT_REGION = "BR"
    body = (
        client_for(people.seller)
        .post(
            "/contacts",
            {
                "last_name": "Lima",
                "mobile_phone": "(11) 91234-5678",
                "owner_user_id": people.seller.pk,
            },
        )
        .json()
    )
    assert body["mobile_phone"]["e164"] == "+5511912345678"


def test_unreadable_number_is_kept_raw_and_flagged(people, client_for):
    body = (
        client_for(people.seller)
        .post(
            "/leads",
            {
                "last_name": "Short",
                "mobile_phone": "555",
                "owner_user_id": people.seller.pk,
            },
        )
        .json()
    )
    assert body["mobile_phone"] == {"raw": "555", "e164": "", "is_valid": False}
    assert body["source"] == "api"


def test_no_token_is_401_and_bad_token_is_401(people, client_for):
    from django.test import Client

    assert client_for(None).get("/contacts").status_code == 401
    bad = Client(headers={"Authorization": "Bearer td_not-a-token"})
    assert bad.get("/api/v1/contacts").status_code == 401
    assert client_for(None).post("/contacts", {"last_name": "X"}).status_code == 401


def test_inactive_user_token_is_refused(people, client_for):
    api = client_for(people.seller)
    people.seller.is_active = False
    people.seller.save()
    assert api.get("/contacts").status_code == 401


@pytest.mark.parametrize(
    "path,fields",
    [
        ("/accounts", {"name": "Acme"}),
        ("/contacts", {"last_name": "Moreno"}),
        ("/leads", {"last_name": "Silva"}),
        ("/opportunities", {"name": "Fleet renewal"}),
    ],
)
def test_crud_cycle_for_every_record_type(people, client_for, path, fields):
    api = client_for(people.seller)
    created = api.post(path, {**fields, "owner_user_id": people.seller.pk, "external_id": "x-1"})
    assert created.status_code == 201, created.content
    record_id = created.json()["id"]
    read = api.get(f"{path}/{record_id}")
    assert read.status_code == 200 and read.json()["external_id"] == "x-1"
    changed = api.patch(f"{path}/{record_id}", {"country": "br"})
    assert changed.status_code == 200 and changed.json()["country"] == "BR"
    listed = api.get(path)
    assert listed.status_code == 200
    assert listed.json()["count"] == 1 and listed.json()["items"][0]["id"] == record_id
    assert api.get(f"{path}/by-external-id/x-1").json()["id"] == record_id
    assert api.get(f"{path}/999999").status_code == 404
    assert api.get(f"{path}/by-external-id/nope").status_code == 404


def test_seller_reads_every_record_but_changes_only_own_and_team(people, client_for, make_record):
    own = make_record("contact", people.seller)
    teams = make_record("contact", people.team_a)
    mates = make_record("contact", people.mate)
    others = make_record("contact", people.other)
    api = client_for(people.seller)
    assert api.get("/contacts").json()["count"] == 4
    assert api.get(f"/contacts/{others.pk}").status_code == 200
    assert api.patch(f"/contacts/{own.pk}", {"job_title": "Buyer"}).status_code == 200
    assert api.patch(f"/contacts/{teams.pk}", {"job_title": "Buyer"}).status_code == 200
    refused = api.patch(f"/contacts/{mates.pk}", {"job_title": "Buyer"})
    assert refused.status_code == 403 and "own" in refused.json()["detail"]
    assert api.patch(f"/contacts/{others.pk}", {"job_title": "Buyer"}).status_code == 403
    others.refresh_from_db()
    assert others.job_title == ""


def test_seller_cannot_create_for_someone_else_or_give_away(people, client_for, make_record):
    api = client_for(people.seller)
    assert api.post("/contacts", {"last_name": "X", "owner_user_id": people.other.pk}).status_code == 403
    assert api.post("/contacts", {"last_name": "X", "owner_team_id": people.team_b.pk}).status_code == 403
    assert api.post("/contacts", {"last_name": "X", "owner_team_id": people.team_a.pk}).status_code == 201
    own = make_record("contact", people.seller)
    assert api.patch(f"/contacts/{own.pk}", {"owner_user_id": people.other.pk}).status_code == 403
    own.refresh_from_db()
    assert own.owner_user_id == people.seller.pk
    assert Contact.objects.filter(owner_user=people.other).count() == 0


def test_manager_changes_team_members_records_but_not_other_teams(people, client_for, make_record):
    mates = make_record("account", people.mate)
    others = make_record("account", people.other)
    api = client_for(people.manager)
    assert api.patch(f"/accounts/{mates.pk}", {"city": "Rome"}).status_code == 200
    assert api.patch(f"/accounts/{mates.pk}", {"owner_user_id": people.seller.pk}).status_code == 200
    assert api.patch(f"/accounts/{others.pk}", {"city": "Rome"}).status_code == 403
    assert api.post("/accounts", {"name": "A", "owner_user_id": people.other.pk}).status_code == 403


def test_admin_changes_everything(people, client_for, make_record):
    others = make_record("lead", people.other)
    api = client_for(people.admin)
    response = api.patch(f"/leads/{others.pk}", {"owner_team_id": people.team_a.pk, "status_reason": "qualified"})
    assert response.status_code == 200
    body = response.json()
    assert body["owner_team_id"] == people.team_a.pk and body["owner_user_id"] is None
    assert body["is_active"] is False


def test_owner_must_be_exactly_one(people, client_for, make_record):
    api = client_for(people.admin)
    both = api.post(
        "/contacts", {"last_name": "X", "owner_user_id": people.seller.pk, "owner_team_id": people.team_a.pk}
    )
    assert both.status_code == 422
    assert "not both" in both.json()["detail"][0]["msg"]
    assert both.json()["detail"][0]["loc"] == ["body", "owner"]
    none = api.post("/contacts", {"last_name": "X"})
    assert none.status_code == 422 and "needs an owner" in none.json()["detail"][0]["msg"]
    record = make_record("contact", people.seller)
    cleared = api.patch(f"/contacts/{record.pk}", {"owner_user_id": None})
    assert cleared.status_code == 422
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({"last_name": "X", "email": "not-an-email"}, "email"),
        ({"last_name": "X", "country": "ZZ"}, "country"),
        ({"last_name": "X", "status_reason": "sleeping"}, "status_reason"),
        ({"last_name": "X", "account_id": 987654}, "account"),
        ({"last_name": ""}, "last_name"),
    ],
)
def test_invalid_input_is_422_naming_the_field(people, client_for, body, field):
    response = client_for(people.seller).post("/contacts", {**body, "owner_user_id": people.seller.pk})
    assert response.status_code == 422, response.content
    assert any(field in [str(x) for x in e["loc"]] for e in response.json()["detail"]), response.json()
    assert Contact.objects.count() == 0


def test_malformed_json_and_wrong_types_are_4xx(people, client_for):
    from django.test import Client

    from textdesk.org.models import ApiToken

    token = ApiToken.issue(people.seller)[1]
    raw = Client(headers={"Authorization": f"Bearer {token}"})
    response = raw.post("/api/v1/contacts", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500
    typed = client_for(people.seller).post("/contacts", {"last_name": "X", "owner_user_id": "abc"})
    assert typed.status_code == 422
    assert client_for(people.seller).get("/contacts", limit=0).status_code == 422
    assert client_for(people.seller).get("/contacts/abc").status_code in (404, 422)


def test_opportunity_customer_is_account_or_contact_not_both(people, client_for, make_record):
    account = make_record("account", people.seller)
    contact = make_record("contact", people.seller)
    api = client_for(people.seller)
    both = api.post(
        "/opportunities",
        {"name": "D", "owner_user_id": people.seller.pk, "account_id": account.pk, "customer_contact_id": contact.pk},
    )
    assert both.status_code == 422
    assert "not both" in both.json()["detail"][0]["msg"]
    ok = api.post(
        "/opportunities",
        {
            "name": "D",
            "owner_user_id": people.seller.pk,
            "account_id": account.pk,
            "contact_ids": [contact.pk],
            "estimated_value": "1200.50",
        },
    )
    assert ok.status_code == 201
    assert ok.json()["contact_ids"] == [contact.pk] and ok.json()["estimated_value"] == "1200.50"
    missing = api.patch(f"/opportunities/{ok.json()['id']}", {"contact_ids": [contact.pk, 999999]})
    assert missing.status_code == 422 and "999999" in missing.json()["detail"][0]["msg"]
    assert Opportunity.objects.get().contacts.count() == 1


def test_upsert_by_external_id_is_idempotent(people, client_for):
    api = client_for(people.seller)
    body = {"last_name": "Moreno", "mobile_phone": "+1 415 555 0134", "owner_user_id": people.seller.pk}
    first = api.put("/contacts/by-external-id/crm-42", body)
    assert first.status_code == 201, first.content
    second = api.put("/contacts/by-external-id/crm-42", body)
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["mobile_phone"] == second.json()["mobile_phone"]
    assert Contact.objects.filter(external_id="crm-42").count() == 1
    partial = api.put("/contacts/by-external-id/crm-42", {"job_title": "Buyer"})
    assert partial.status_code == 200
    assert partial.json()["last_name"] == "Moreno" and partial.json()["job_title"] == "Buyer"


def test_upsert_creating_needs_an_owner_and_respects_reach(people, client_for, make_record):
    api = client_for(people.seller)
    assert api.put("/accounts/by-external-id/a-1", {"name": "A"}).status_code == 422
    make_record("account", people.other, external_id="a-2")
    assert api.put("/accounts/by-external-id/a-2", {"city": "Milan"}).status_code == 403
    assert Account.objects.get(external_id="a-2").city == ""


def test_duplicate_external_id_on_create_is_refused(people, client_for):
    api = client_for(people.seller)
    assert (
        api.post("/leads", {"last_name": "A", "external_id": "L1", "owner_user_id": people.seller.pk}).status_code
        == 201
    )
    again = api.post("/leads", {"last_name": "B", "external_id": "L1", "owner_user_id": people.seller.pk})
    assert again.status_code in (409, 422)
    assert Lead.objects.count() == 1


def test_list_filters_and_pagination(people, client_for, make_record):
    make_record("contact", people.seller, first_name="Alice", last_name="Moreno", mobile_phone="+1 415 555 0134")
    make_record(
        "contact", people.team_a, first_name="Bruno", last_name="Costa", mobile_phone="(11) 91234-5678", country="BR"
    )
    for n in range(5):
        make_record("contact", people.other, last_name=f"Filler {n}")
    api = client_for(people.seller)
    assert [c["last_name"] for c in api.get("/contacts", q="alice mor").json()["items"]] == ["Moreno"]
    assert [c["last_name"] for c in api.get("/contacts", phone="+55 11 91234-5678").json()["items"]] == ["Costa"]
    assert [c["last_name"] for c in api.get("/contacts", phone="(415) 555-0134").json()["items"]] == ["Moreno"]
    assert api.get("/contacts", owner_team_id=people.team_a.pk).json()["count"] == 1
    page = api.get("/contacts", limit=2, offset=2).json()
    assert page["count"] == 7 and len(page["items"]) == 2 and page["offset"] == 2
    assert api.get("/contacts", limit=1000).status_code == 422


def test_contact_phone_uses_account_country(people, client_for, make_record):
    account = make_record("account", people.seller, country="IT")
    body = (
        client_for(people.seller)
        .post(
            "/contacts",
            {
                "last_name": "Rossi",
                "business_phone": "06 6982 0000",
                "account_id": account.pk,
                "owner_user_id": people.seller.pk,
            },
        )
        .json()
    )
    assert body["business_phone"]["e164"] == "+390669820000"


def test_misspelt_field_is_refused_not_ignored(people, client_for):
    response = client_for(people.seller).post(
        "/contacts", {"last_name": "X", "owner_user_id": people.seller.pk, "mobilePhone": "+1 415 555 0134"}
    )
    assert response.status_code == 422
    assert "mobilePhone" in response.json()["detail"][0]["loc"]
    assert Contact.objects.count() == 0


def test_refusal_comes_before_validation(people, client_for, make_record):
    others = make_record("contact", people.other)
    response = client_for(people.seller).patch(f"/contacts/{others.pk}", {"email": "broken", "owner_user_id": None})
    assert response.status_code == 403
