"""The live event stream over a real socket: session authentication, events, keep-alive, disconnect."""

import json

import httpx
import pytest

from tests.web.liveserver import LiveServer, wait_until


@pytest.fixture
def asgi_server(transactional_db):
    server = LiveServer().start()
    yield server
    server.stop()


def _session_cookie(client, user):
    from django.conf import settings

    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def _subscribers(channel):
    from textdesk.live import bus

    return bus.get_bus().listeners(channel)


def test_stream_refuses_without_session(asgi_server):
    response = httpx.get(f"{asgi_server.url}/live/events")
    assert response.status_code == 403
    response = httpx.get(f"{asgi_server.url}/live/events", cookies={"sessionid": "forged"})
    assert response.status_code == 403


def test_stream_delivers_user_events_and_stops_on_disconnect(asgi_server, client, make_user):
    from textdesk.live import bus

    seller, other = make_user("s1"), make_user("s2")
    cookies = _session_cookie(client, seller)
    channel = bus.user_channel(seller.pk)
    with httpx.Client(base_url=asgi_server.url, cookies=cookies, timeout=10) as http:
        with http.stream("GET", "/live/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert next(lines).startswith("retry:")
            assert wait_until(lambda: _subscribers(channel) == 1)
            bus.get_bus().publish(bus.user_channel(other.pk), {"event": "notification.new", "unread": 9})
            bus.get_bus().publish(channel, {"event": "message.new", "conversation_id": 3, "message_id": 7})
            event = data = None
            for line in lines:
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                if line.startswith("data:"):
                    data = json.loads(line.split(":", 1)[1])
                    break
            assert event == "message.new" and data["conversation_id"] == 3 and data["message_id"] == 7
    assert wait_until(lambda: _subscribers(channel) == 0)


def test_keepalive_comment(asgi_server, client, make_user, monkeypatch):
    from textdesk.live import sse

    monkeypatch.setattr(sse, "KEEPALIVE_SECONDS", 0.05)
    cookies = _session_cookie(client, make_user("s3"))
    with httpx.Client(base_url=asgi_server.url, cookies=cookies, timeout=10) as http:
        with http.stream("GET", "/live/events") as response:
            lines = response.iter_lines()
            assert any(line == ": keep-alive" for _, line in zip(range(10), lines))


def test_format_event():
    from textdesk.live.sse import format_event

    assert format_event({"event": "notification.new", "unread": 2}) == (
        b'event: notification.new\ndata: {"event":"notification.new","unread":2}\n\n'
    )
