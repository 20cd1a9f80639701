import pytest
from django.db import IntegrityError

from textdesk.crm.models import Contact


def test_phone_is_normalised_with_record_country(make_user, make_record):
    seller = make_user()
    contact = make_record("contact", seller, mobile_phone="(11) 91234-5678", country="BR")
    assert contact.mobile_phone_e164 == "+5511912345678"
    assert contact.mobile_phone == "(11) 91234-5678"


def test_contact_uses_its_account_country(make_user, make_record):
    seller = make_user()
    account = make_record("account", seller, country="IT")
    contact = make_record("contact", seller, account=account, business_phone="06 6982 0000")
    assert contact.business_phone_e164 == "+390669820000"


def test_invalid_phone_is_kept_raw_and_flagged(make_user, make_record):
    contact = make_record("contact", make_user(), mobile_phone="555")
    numbers = {n["field"]: n for n in contact.phone_numbers()}
    assert numbers["mobile_phone"]["raw"] == "555" and not numbers["mobile_phone"]["is_valid"]


def test_record_has_exactly_one_owner(make_user, make_team):
    seller = make_user()
    team = make_team("A", [seller])
    with pytest.raises(IntegrityError):
        Contact.objects.create(last_name="Both", owner_user=seller, owner_team=team)


def test_status_reason_decides_active(make_user, make_record):
    lead = make_record("lead", make_user(), status_reason="disqualified")
    assert lead.is_active is False
    opp = make_record("opportunity", make_user(), status_reason="on_hold")
    assert opp.is_active is True
