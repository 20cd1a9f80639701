"""The provider battery for LINK Mobility and Vibes, end to end on the real database: a seller's message sent
through the worker to a local fake of the provider's API, then the provider's own delivery reports and inbound
messages posted to TextDesk's real webhook endpoint (in order, out of order, twice, malformed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from tests.inbound.conftest import LiveServer
from tests.outbound.helpers import drain
from tests.providers._fake_api import FakeProviderAPI

CUSTOMER = {"link_mobility": "+4791234567", "vibes": "+18475551212"}
OUR_NUMBER = {"link_mobility": "+4759446000", "vibes": "+13125550140"}
CREDENTIALS = {
    "link_mobility": {
        "platform_id": "COMMON_API",
        "platform_partner_id": "3245",
        "gate_id": "gate-1",
        "username": "u",
        "password": "p",
    },
    "vibes": {"username": "u", "password": "p"},
}
XML = '<?xml version="1.0" encoding="UTF-8"?>'


# ---------------------------------------------------------------- each provider's wire format


def link_accepted(message_id: str, parts: int = 1):
    return {"messageId": message_id, "resultCode": 1005, "description": "Queued", "smsCount": parts}, {}


def vibes_accepted(message_id: str, parts: int = 1):
    return f'{XML}<mtMessage messageId="{message_id}" submitterMessageId="1"/>', {"content-type": "application/xml"}


LINK_CODES = {"sent": 1000, "delivered": 1001, "unreachable": 2104}
VIBES_STEPS = {"sent": ("Carrier", False), "delivered": ("Handset", False), "unreachable": ("Handset", True)}


def link_report(message_id: str, step: str) -> tuple[bytes, str]:
    body = {"id": message_id, "refId": "r", "resultCode": LINK_CODES[step], "timestamp": "2026-11-21T09:05:15Z"}
    return json.dumps(body).encode(), "application/json"


def vibes_report(
    message_id: str, step: str, part: tuple[str, int, int] | None = None, kind: str = ""
) -> tuple[bytes, str]:
    report_type, is_error = VIBES_STEPS.get(step, (kind, step == "error"))
    multipart = (
        f'<multipart isMultipart="true" originalMessageId="{part[0]}" noOfParts="{part[1]}" partNumber="{part[2]}"/>'
        if part
        else '<multipart isMultipart="false"/>'
    )
    error = "<errorCode>5001</errorCode><description>Absent subscriber</description>" if is_error else ""
    body = (
        f'{XML}<mtMessageResponse messageId="{message_id}" submitterMessageId="1" receiptDate="2026-11-21 14:02:07">'
        f'{multipart}<type>{report_type}</type><status isError="{str(is_error).lower()}">{error}</status>'
        "</mtMessageResponse>"
    )
    return body.encode(), "text/xml"


def link_inbound(message_id: str, customer: str, ours: str, text: str) -> tuple[bytes, str]:
    body = {
        "messageId": message_id,
        "source": customer,
        "destination": ours,
        "content": {"type": "TEXT", "userData": text},
        "timestamp": "2026-11-21T09:10:41Z",
    }
    return json.dumps(body).encode(), "application/json"


def vibes_inbound(message_id: str, customer: str, ours: str, text: str, attempt: int = 1) -> tuple[bytes, str]:
    body = (
        f'{XML}<moMessage messageId="{message_id}" receiptDate="2026-11-21 14:05:31" attemptNumber="{attempt}">'
        f'<source address="{customer}" carrier="103" type="MDN"/><destination address="{ours}" type="MDN"/>'
        f"<message>{text}</message></moMessage>"
    )
    return body.encode(), "text/xml"


WIRE = {
    "link_mobility": (link_accepted, link_report, link_inbound),
    "vibes": (vibes_accepted, vibes_report, vibes_inbound),
}
ACK = {"link_mobility": 204, "vibes": 200}


# ---------------------------------------------------------------- the setup


@dataclass
class World:
    kind: str
    server: LiveServer
    api: FakeProviderAPI
    account: object
    seller: object
    number: object
    contact: object

    def post(self, url: str, body: bytes, content_type: str, **headers) -> httpx.Response:
        path = urlsplit(url).path
        headers = {"content-type": content_type, **headers}
        return httpx.post(self.server.url + path, content=body, headers=headers, timeout=10)

    def report(self, message_id: str, step: str, **kw) -> httpx.Response:
        return self.post(self.account.status_url, *WIRE[self.kind][1](message_id, step, **kw))

    def inbound(self, message_id: str, text: str, **kw) -> httpx.Response:
        body = WIRE[self.kind][2](message_id, CUSTOMER[self.kind], OUR_NUMBER[self.kind], text, **kw)
        return self.post(self.account.inbound_url, *body)

    def send(self, body: str = "Hello from TextDesk", provider_id: str = "PM-1", parts: int = 1):
        from textdesk.messaging.models import Message
        from textdesk.messaging.outbound.send import send_message

        answer, headers = WIRE[self.kind][0](provider_id, parts)
        self.api.answer(200, answer, headers)
        message = send_message(
            user=self.seller, record=self.contact, sender_number=self.number, to_number=CUSTOMER[self.kind], body=body
        )
        drain()
        return Message.objects.get(pk=message.pk)


@pytest.fixture(params=["link_mobility", "vibes"])
def world(request, transactional_db, monkeypatch, make_user, make_provider_account, make_sender_number, make_record):
    from django.db import connections

    from textdesk.jobs.worker import load_handlers
    from textdesk.messaging.inbound.intake_asgi import account_cache

    kind = request.param
    load_handlers()
    account_cache.clear()
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    api = FakeProviderAPI().start()
    seller = make_user("seller")
    account = make_provider_account(kind=kind, credentials=CREDENTIALS[kind], options={"base_url": api.url})
    number = make_sender_number(OUR_NUMBER[kind], owner=seller, provider_account=account, rate_per_second=1000)
    contact = make_record("contact", seller, mobile_phone=CUSTOMER[kind])
    server = LiveServer()
    server.start()
    yield World(kind, server, api, account, seller, number, contact)
    server.stop()
    api.stop()
    account_cache.clear()


def _history(message) -> list[tuple[str, bool]]:
    return [(e.provider_status, e.applied) for e in message.events.order_by("at", "id") if e.status != "sending"][1:]


# ---------------------------------------------------------------- the battery


def test_send_then_reports_in_order(world):
    message = world.send()
    assert (message.status, message.provider_message_id) == ("sending", "PM-1")  # taken, not yet with a carrier
    assert len(world.api.received) == 1
    for step in ("sent", "delivered"):
        assert world.report("PM-1", step).status_code == ACK[world.kind]
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None
    assert [applied for _, applied in _history(message)] == [True, True]


def test_reports_out_of_order_and_twice_never_move_a_message_back(world):
    message = world.send()
    for step in ("delivered", "sent", "delivered", "sent"):
        assert world.report("PM-1", step).status_code == ACK[world.kind]
    message.refresh_from_db()
    assert message.status == "delivered"
    assert [applied for _, applied in _history(message)] == [True, False, False, False]


def test_a_failure_report_says_why_and_whether_retrying_helps(world):
    message = world.send()
    world.report("PM-1", "unreachable")
    message.refresh_from_db()
    assert (message.status, message.failure_reason) == ("undelivered", "UnreachableDestination")


def test_a_report_before_the_send_is_recorded_waits_for_it(world):
    from textdesk.messaging.models import UnmatchedStatusUpdate

    assert world.report("PM-1", "delivered").status_code == ACK[world.kind]
    assert UnmatchedStatusUpdate.objects.count() == 1
    message = world.send()
    assert message.status == "delivered" and not UnmatchedStatusUpdate.objects.exists()


def test_refusals_are_permanent_or_retried_as_the_provider_says(world):
    from textdesk.messaging.models import Message
    from textdesk.messaging.outbound.send import send_message

    world.api.answer(503, "busy", {"content-type": "text/plain"})
    answer, headers = WIRE[world.kind][0]("PM-9")
    world.api.answer(200, answer, headers)
    message = send_message(
        user=world.seller, record=world.contact, sender_number=world.number, to_number=CUSTOMER[world.kind], body="a"
    )
    drain()
    message = Message.objects.get(pk=message.pk)
    assert (message.status, message.provider_message_id, len(world.api.received)) == ("sending", "PM-9", 2)

    world.api.answer(401, "", {})
    refused = send_message(
        user=world.seller, record=world.contact, sender_number=world.number, to_number=CUSTOMER[world.kind], body="b"
    )
    drain()
    refused = Message.objects.get(pk=refused.pk)
    assert (refused.status, refused.failure_reason, len(world.api.received)) == ("failed", "ProviderAuthFailed", 3)


def test_inbound_is_stored_once_however_often_it_is_posted(world):
    from textdesk.messaging.models import Message

    for _ in range(3):
        assert world.inbound("MO-1", "Can we talk tomorrow?").status_code == ACK[world.kind]
    [stored] = Message.objects.filter(direction="inbound")
    assert (stored.provider_message_id, stored.from_number, stored.to_number, stored.body) == (
        "MO-1",
        CUSTOMER[world.kind],
        OUR_NUMBER[world.kind],
        "Can we talk tomorrow?",
    )


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        (b"", "application/json", 400),
        (b"{not json or xml", "application/json", 400),
        (b"<moMessage", "text/xml", 400),
        (b"From=%2B1&Body=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_malformed_bodies_get_a_precise_4xx_and_store_nothing(world, body, content_type, status):
    from textdesk.messaging.models import Message, UnmatchedStatusUpdate

    wanted = status
    if (world.kind, content_type) in {("link_mobility", "text/xml"), ("vibes", "application/json")}:
        wanted = 415  # the other provider's format: wrong content type first
    for url in (world.account.inbound_url, world.account.status_url):
        answer = world.post(url, body, content_type)
        assert answer.status_code == wanted, answer.text
        assert "error" in answer.json()
    assert not Message.objects.exists() and not UnmatchedStatusUpdate.objects.exists()


# ---------------------------------------------------------------- Vibes: several reports per part, carriers


@pytest.mark.parametrize("world", ["vibes"], indirect=True)
def test_vibes_parts_are_combined_and_a_late_system_report_never_undoes_a_delivery(world):
    message = world.send(body="x" * 400, provider_id="VB-7", parts=3)
    assert message.segments == 3
    assert [p.provider_message_id for p in message.parts.order_by("number")] == ["VB-7:1", "VB-7:2", "VB-7:3"]

    def part_report(number: int, step: str, kind: str = ""):
        return world.report(f"VB-7-p{number}", step, part=("VB-7", 3, number), kind=kind)

    part_report(1, "system", kind="System")
    part_report(1, "delivered")
    part_report(2, "delivered")  # Handset before its System and Carrier reports
    part_report(2, "sent")
    part_report(2, "system", kind="System")
    message.refresh_from_db()
    assert message.status == "sending"  # part 3 has not been reported at all
    part_report(3, "sent")
    message.refresh_from_db()
    assert message.status == "sent"
    part_report(3, "delivered")
    message.refresh_from_db()
    assert message.status == "delivered"
    part_report(2, "error", kind="System")  # a late System error of a part already on the phone
    message.refresh_from_db()
    assert (message.status, message.failure_reason) == ("delivered", "")
    assert sorted(message.parts.values_list("status", flat=True)) == ["delivered"] * 3


@pytest.mark.parametrize("world", ["vibes"], indirect=True)
def test_vibes_replies_name_the_carrier_the_customer_wrote_from(world):
    from xml.etree import ElementTree

    from textdesk.messaging.models import Message

    assert world.inbound("MO-5", "Hi", attempt=2).status_code == 200
    world.send(provider_id="VB-8")
    destination = ElementTree.fromstring(world.api.received[-1].body).find("destination")
    assert destination.attrib == {"address": CUSTOMER["vibes"], "carrier": "103", "type": "MDN"}
    assert Message.objects.filter(direction="inbound").count() == 1


@pytest.mark.parametrize("world", ["link_mobility"], indirect=True)
def test_link_replies_refer_to_the_customers_message(world):
    assert world.inbound("MO-7", "Ring me").status_code == 204
    world.send(provider_id="LM-8")
    assert world.api.received[-1].json()["moReferenceId"] == "MO-7"
