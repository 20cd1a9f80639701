"""One error root: every refusal in one JSON shape under /api/, a page in the app's layout elsewhere, and the
same refusal with the same status on every screen."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from textdesk.domain import failures
from textdesk.messaging.models import Message

pytestmark = pytest.mark.django_db


def _is_error_shape(body: dict, code: str) -> bool:
    return body["code"] == code and isinstance(body["detail"], str | list) and body["detail"]


def test_unknown_api_path_is_json_404(client_for, people):
    response = client_for(people.seller).get("/no-such-thing")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    assert _is_error_shape(response.json(), "not_found")


def test_wrong_method_is_json_405_with_allow(client_for, people):
    response = client_for(people.seller)._client.delete("/api/v1/messages/segments")
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert _is_error_shape(response.json(), "method_not_allowed")


@override_settings(ROOT_URLCONF="tests.api.crash_urls")
def test_a_crash_is_json_500_under_the_api_and_a_page_elsewhere(people):
    browser = Client(raise_request_exception=False)
    api = browser.get("/api/v1/crash")
    assert api.status_code == 500 and _is_error_shape(api.json(), "server_error")
    assert "RuntimeError" not in api.content.decode()
    browser.force_login(people.seller)
    page = browser.get("/records/crash/")
    assert (
        page.status_code == 500 and "<nav" in page.content.decode() and "Something went wrong" in page.content.decode()
    )


@override_settings(ROOT_URLCONF="tests.api.crash_urls")
def test_a_database_out_of_reach_outside_the_api_operations_is_503_not_500(people):
    """Raised past every view's handling (a page, or before an API operation runs): a 503 to retry, JSON under the
    API, elsewhere a page that does not need the database."""
    from textdesk.errors import DATABASE_RETRY_AFTER

    browser = Client(raise_request_exception=False)
    api = browser.get("/api/v1/database-out-of-reach")
    assert api.status_code == 503 and _is_error_shape(api.json(), "unavailable")
    assert api["Retry-After"] == str(DATABASE_RETRY_AFTER)
    browser.force_login(people.seller)
    page = browser.get("/records/database-out-of-reach/")
    assert page.status_code == 503 and page["Retry-After"] == str(DATABASE_RETRY_AFTER)
    assert "Temporarily unavailable" in page.content.decode() and "<nav" not in page.content.decode()


def test_a_page_that_does_not_exist_uses_the_layout_in_the_users_language(people):
    people.seller.language = "pt-br"
    people.seller.save()
    browser = Client()
    browser.force_login(people.seller)
    page = browser.get("/no/such/page/")
    html = page.content.decode()
    assert page.status_code == 404
    assert '<html lang="pt-br">' in html and 'class="topbar' in html
    assert "Página não encontrada" in html


def test_not_found_message_is_json_with_a_fix(client_for, people):
    response = client_for(people.seller).get("/messages/424242")
    assert response.status_code == 404 and _is_error_shape(response.json(), "not_found") and response.json()["fix"]


def test_invalid_input_keeps_the_field_list(client_for, people):
    response = client_for(people.admin).post("/users", {"username": ""})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and all({"loc", "msg", "type"} <= set(e) for e in body["detail"])


@pytest.mark.parametrize(
    "path",
    [
        "/contacts?offset=9223372036854775808",
        "/contacts?owner_user_id=9223372036854775808",
        "/contacts/9223372036854775808",
        "/conversations/9223372036854775808/messages",
        "/messages/99999999999999999999999",
        "/conversations?offset=99999999999999999999",
    ],
)
def test_integers_beyond_the_database_are_422(client_for, people, path):
    response = client_for(people.seller).get(path)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "path", ["/contacts?q=a%00b", "/conversations?number=%2B1%00", "/contacts/by-external-id/x%00y", "/users?q=%00"]
)
def test_nul_in_a_parameter_is_422(client_for, people, path):
    response = client_for(people.seller).get(path)
    assert response.status_code == 422 and response.json()["code"] == "invalid"


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfffy"])
def test_nul_or_lone_surrogate_in_a_json_body_is_422_and_nothing_is_stored(client_for, people, text):
    from textdesk.crm.models import Contact

    raw = json.dumps({"last_name": text, "owner_user_id": people.seller.pk})  # ensure_ascii: \u0000, \ud800
    response = client_for(people.seller)._client.post("/api/v1/contacts", raw, content_type="application/json")
    assert response.status_code == 422 and response.json()["code"] == "invalid"
    assert not Contact.objects.exists()


@pytest.fixture
def opted_out(people, make_sender_number, make_record):
    from textdesk.messaging.actions.consent import record_consent

    number = make_sender_number("+14155550001", owner=people.seller)
    contact = make_record("contact", people.seller, last_name="Moreno", mobile_phone="+14155550134")
    record_consent("+14155550134", number.e164, "opt_out", "keyword")
    return number, contact


def test_the_same_refusal_has_the_same_status_on_the_api_and_in_the_pane(client_for, people, opted_out):
    number, contact = opted_out
    api = client_for(people.seller).post(
        "/messages",
        {
            "record_type": "contact",
            "record_id": contact.pk,
            "sender_number_id": number.pk,
            "to": "+14155550134",
            "body": "Hi",
        },
    )
    browser = Client()
    browser.force_login(people.seller)
    pane = browser.post(
        f"/records/contact/{contact.pk}/send/",
        {"to": "+14155550134", "from": number.pk, "body": "Hi"},
        HTTP_HX_REQUEST="true",
    )
    assert api.status_code == pane.status_code == 422
    assert api.json()["code"] == api.json()["reason"] == failures.RECIPIENT_OPTED_OUT and api.json()["fix"]
    assert api.json()["fix"] in pane.content.decode()
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_value_the_database_cannot_hold_is_refused_as_invalid_input(client, make_user):
    from textdesk.org.models import ApiToken
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    token = ApiToken.issue(make_user("ada", role=SYSTEM_ADMINISTRATOR))[1]
    answer = client.get(
        "/api/v1/audit-events?until=2017-02-11T20%3A38%3A52-23%3A49&since=0866-11-16T23%3A14%3A16Z",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code in (200, 422)  # SQLite compares the text; PostgreSQL refuses the offset
    if answer.status_code == 422:
        assert answer.json()["code"] == "invalid"


def test_a_database_out_of_reach_is_a_precise_503_with_retry_after():
    """A cut database (or a lost race that outlived its retries) is no server error: 503, try again soon."""
    from django.db import InterfaceError, OperationalError

    from textdesk import errors
    from textdesk.api.common import DATABASE_RETRY_AFTER, as_refusal

    for exc in (OperationalError("connection to server failed: Connection refused"), InterfaceError("closed")):
        response = errors.api_response(as_refusal(exc))
        assert response.status_code == 503 and response["Retry-After"] == str(DATABASE_RETRY_AFTER)
        assert _is_error_shape(json.loads(response.content), "unavailable")
