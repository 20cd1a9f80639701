"""A send goes to one of the record's numbers or its conversations' customers, unless the caller adds the number."""

from __future__ import annotations

import pytest

from textdesk.messaging.models import Conversation, Message
from textdesk.org.models import ApiToken

STRANGER = "+14155550999"


@pytest.fixture
def api(setup, client):
    _, token = ApiToken.issue(setup.user)

    def post(data):
        return client.post(
            "/api/v1/messages", data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )

    return post


def _payload(setup, **kw):
    return {
        "record_type": "contact",
        "record_id": setup.contact.pk,
        "sender_number_id": setup.number.pk,
        "to": setup.to,
        "body": "Hello",
        **kw,
    }


def test_a_strangers_number_is_refused_with_a_fix_and_nothing_is_filed(setup, api):
    response = api(_payload(setup, to=STRANGER))
    assert response.status_code == 422
    body = response.json()
    assert (
        body["code"] == "RecipientNotOnRecord" and STRANGER in body["detail"] and "add_number_to_record" in body["fix"]
    )
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_the_records_own_number_and_an_added_number_are_sent(setup, api):
    assert api(_payload(setup)).status_code == 201
    added = api(_payload(setup, to=STRANGER, add_number_to_record=True))
    assert added.status_code == 201 and added.json()["record_id"] == setup.contact.pk
    # From now on the number is the customer of one of the record's conversations.
    assert api(_payload(setup, to=STRANGER)).status_code == 201


def test_the_web_pane_refuses_a_strangers_number_too(setup, client):
    client.force_login(setup.user)
    pane = client.post(
        f"/records/contact/{setup.contact.pk}/send/",
        {"to": STRANGER, "from": setup.number.pk, "body": "Hello"},
        HTTP_HX_REQUEST="true",
    )
    page = pane.content.decode()
    assert pane.status_code == 422 and "data-send-error" in page  # refused in the pane, with its reason
    assert not Message.objects.exists()
