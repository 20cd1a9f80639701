"""The messages API: send (201 or a precise refusal), segments of a draft, one message with its history."""

from __future__ import annotations

import pytest

from tests.outbound.helpers import drain
from textdesk.domain import failures
from textdesk.messaging.models import Message
from textdesk.org.models import ApiToken


@pytest.fixture
def api(setup, client):
    _, token = ApiToken.issue(setup.user)

    class Api:
        def post(self, path, data, token=token):
            return client.post(
                f"/api/v1{path}", data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )

        def get(self, path, token=token):
            return client.get(f"/api/v1{path}", HTTP_AUTHORIZATION=f"Bearer {token}")

    return Api()


def _payload(setup, **kw):
    data = {
        "record_type": "contact",
        "record_id": setup.contact.pk,
        "sender_number_id": setup.number.pk,
        "to": setup.to,
        "body": "Olá! Your quote is ready.",
    }
    data.update(kw)
    return data


def test_send_returns_201_with_the_message_then_history_after_sending(setup, api):
    response = api.post("/messages", _payload(setup))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "queued" and data["status_reason"] == "NotSent" and data["segments"] == 1
    drain()
    detail = api.get(f"/messages/{data['id']}").json()
    assert [e["status"] for e in detail["history"]] == ["queued", "sending", "sending"]
    assert detail["provider_message_id"] and detail["failure"] is None


def test_invalid_number_is_422_with_reason_message_and_fix(setup, api):
    response = api.post("/messages", _payload(setup, to="(11) 91234-5678"))
    assert response.status_code == 422
    body = response.json()
    assert body["reason"] == failures.INVALID_SENDING_PARAMETERS and "+5511" in body["fix"] and body["message"]
    assert not Message.objects.exists()


def test_empty_body_and_foreign_number_are_refused(setup, api, make_user, make_sender_number):
    assert api.post("/messages", _payload(setup, body="")).json()["reason"] == failures.EMPTY_BODY
    other = make_sender_number(owner=make_user("other"), provider_account=setup.account)
    response = api.post("/messages", _payload(setup, sender_number_id=other.pk))
    assert response.status_code == 422 and response.json()["reason"] == failures.SENDER_NOT_ALLOWED
    response = api.post("/messages", _payload(setup, sender_number_id=999999))
    assert response.status_code == 422 and response.json()["reason"] == failures.SENDER_NOT_ALLOWED


def test_unknown_record_is_404_and_bad_type_422(setup, api):
    assert api.post("/messages", _payload(setup, record_id=999999)).status_code == 404
    assert api.post("/messages", _payload(setup, record_type="ticket")).status_code == 422


def test_missing_fields_are_422_not_500(setup, api):
    assert api.post("/messages", {"to": setup.to}).status_code == 422


def test_permanent_failure_shows_reason_and_fix(setup, api):
    setup.gateway.script(setup.to, ("error", "21211", "Invalid 'To' Phone Number"))
    message_id = api.post("/messages", _payload(setup)).json()["id"]
    drain()
    data = api.get(f"/messages/{message_id}").json()
    assert data["status"] == "failed" and data["status_reason"] == "SendingFailed"
    assert data["failure"]["reason"] == failures.INVALID_SENDING_PARAMETERS
    assert data["failure"]["provider_code"] == "21211" and data["failure"]["permanent"] and data["failure"]["fix"]


def test_segments_of_a_draft(setup, api):
    data = api.post("/messages/segments", {"body": "€" * 81}).json()
    assert data["encoding"] == "gsm7" and data["segments"] == 2 and data["parts"] == [76, 5]
    data = api.post("/messages/segments", {"body": "Preço: ç"}).json()
    assert data["encoding"] == "ucs2" and data["ucs2_characters"] == ["ç"]


def test_message_of_someone_else_is_404(setup, api, make_user):
    message_id = api.post("/messages", _payload(setup)).json()["id"]
    _, stranger_token = ApiToken.issue(make_user("stranger"))
    assert api.get(f"/messages/{message_id}", token=stranger_token).status_code == 404
    assert api.get(f"/messages/{message_id}").status_code == 200


def test_without_token_is_401(setup, client):
    assert (
        client.post("/api/v1/messages/segments", data={"body": "x"}, content_type="application/json").status_code == 401
    )


def test_malformed_json_is_a_4xx_not_a_500(setup, client):
    _, token = ApiToken.issue(setup.user)
    response = client.post(
        "/api/v1/messages", data="{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert 400 <= response.status_code < 500
    assert not Message.objects.exists()


def test_send_at_schedules_the_message(setup, api):
    response = api.post("/messages", _payload(setup, send_at="2031-01-02T09:30:00Z"))
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "scheduled" and data["send_after"].startswith("2031-01-02T09:30:00")
