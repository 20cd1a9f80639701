"""The simulator's Messages resource driven by Twilio's official Python client: create, fetch, list with
paging and filters, stream, update (redact, cancel a scheduled message), delete; sends through a Messaging
Service; status callbacks retried on non-2xx."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qs

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

SID = "AC" + "7" * 32
TOKEN = "sdk-token"
OURS = "+14155550001"
SERVICE = "MG" + "1" * 32
CUSTOMERS = ["+14155550134", "+14155550135"]


@pytest.fixture
def client(simulator, sink):
    simulator.state.add_number(
        {
            "number": OURS,
            "account_sid": SID,
            "auth_token": TOKEN,
            "status_callback": sink.url + "/webhooks/status",
            "messaging_service_sid": SERVICE,
        }
    )
    twilio = Client(SID, TOKEN)
    twilio.api.base_url = simulator.url  # every API call goes to the simulator
    return twilio


def _until(predicate, limit: float = 10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_list_pages_filters_and_streams(client):
    sent = [client.messages.create(to=CUSTOMERS[i % 2], from_=OURS, body=f"message {i}") for i in range(7)]
    _until(lambda: all(client.messages(m.sid).fetch().status == "delivered" for m in sent))

    listed = client.messages.list(page_size=3)
    assert [m.sid for m in listed] == [m.sid for m in reversed(sent)]  # newest first, across 3 pages
    page = client.messages.page(page_size=3)
    assert len(list(page)) == 3 and page.next_page_url is not None
    assert [m.sid for m in client.messages.stream(to=CUSTOMERS[0], page_size=2)] == [
        m.sid for m in reversed(sent) if m.to == CUSTOMERS[0]
    ]
    assert len(client.messages.list(from_=OURS, limit=5)) == 5
    today = dt.datetime.now(dt.UTC).date()
    assert len(client.messages.list(date_sent=dt.datetime.combine(today, dt.time()))) == 7
    assert client.messages.list(date_sent_before=dt.datetime.combine(today - dt.timedelta(days=1), dt.time())) == []

    fetched = client.messages(sent[0].sid).fetch()
    assert fetched.date_sent is not None and fetched.price is not None and fetched.status == "delivered"


def test_redact_and_delete(client):
    message = client.messages.create(to=CUSTOMERS[0], from_=OURS, body="a secret")
    _until(lambda: client.messages(message.sid).fetch().status == "delivered")
    assert client.messages(message.sid).update(body="").body == ""
    assert client.messages(message.sid).fetch().body == ""
    assert client.messages(message.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.messages(message.sid).fetch()
    assert gone.value.status == 404


def test_messaging_service_sends_and_scheduled_messages_can_be_canceled(client, sink):
    chosen = client.messages.create(to=CUSTOMERS[0], messaging_service_sid=SERVICE, body="from the pool")
    assert (chosen.status, chosen.from_, chosen.messaging_service_sid) == ("accepted", None, SERVICE)
    _until(lambda: client.messages(chosen.sid).fetch().status == "delivered")

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    scheduled = client.messages.create(
        to=CUSTOMERS[1], messaging_service_sid=SERVICE, body="tomorrow", schedule_type="fixed", send_at=later
    )
    assert scheduled.status == "scheduled"
    assert client.messages(scheduled.sid).update(status="canceled").status == "canceled"
    with pytest.raises(TwilioRestException):
        client.messages(chosen.sid).update(status="canceled")  # already delivered
    with pytest.raises(TwilioRestException):
        client.messages.create(to=CUSTOMERS[1], messaging_service_sid="MG" + "9" * 32, body="unknown service")


def test_status_callbacks_are_retried_when_not_acknowledged(client, simulator, sink):
    simulator.state.configure({"post_queued": False})
    sink.answers = [503]  # the first callback fails once
    message = client.messages.create(to=CUSTOMERS[0], from_=OURS, body="retry me")
    received = sink.wait_for(3, "/webhooks/status")
    assert [parse_qs(r.body.decode())["MessageStatus"][0] for r in received] == ["sent", "sent", "delivered"]
    assert all(parse_qs(r.body.decode())["MessageSid"][0] == message.sid for r in received)
