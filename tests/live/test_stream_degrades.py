"""With Redis unreachable the live stream still answers 200 and says it is degraded (the page then refreshes
itself); when Redis comes back the same stream says so and delivers events again."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import httpx
import pytest

from tests.live.conftest import REDIS_URL, wait_for
from tests.web.liveserver import LiveServer


@pytest.fixture
def bus_through(settings, redis_proxy):
    """The bus of this process reaching Redis through ``redis_proxy``."""
    from textdesk.live import bus

    db = urlparse(REDIS_URL).path.lstrip("/") or "0"
    settings.REDIS_URL = f"redis://127.0.0.1:{redis_proxy.port}/{db}"
    bus.reset_bus()
    yield redis_proxy
    bus.reset_bus()


@pytest.fixture
def asgi_server(transactional_db):
    server = LiveServer().start()
    yield server
    server.stop()


def _events(lines):
    """(event name, data) pairs from an SSE line iterator."""
    name = None
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name is not None:
            yield name, json.loads(line.split(":", 1)[1])
            name = None


def test_stream_answers_200_degraded_while_redis_is_down_and_recovers(bus_through, asgi_server, client, make_user):
    from django.conf import settings

    from textdesk.live import bus

    seller = make_user("seller")
    client.force_login(seller)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    bus_through.cut()
    with httpx.Client(base_url=asgi_server.url, cookies=cookies, timeout=30) as http:
        with http.stream("GET", "/live/events") as response:
            assert response.status_code == 200
            events = _events(response.iter_lines())
            assert next(events) == ("live.state", {"event": "live.state", "state": "degraded"})

            bus_through.restore()  # the bus reconnects by itself; the open stream hears it
            assert next(events) == ("live.state", {"event": "live.state", "state": "ok"})
            assert wait_for(lambda: bus.get_bus().connected, timeout=10)
            news = {"event": "message.new", "conversation_id": 1, "message_id": 2}
            bus.get_bus().publish(bus.user_channel(seller.pk), news)
            assert next(events) == ("message.new", news)


def test_stream_answers_200_when_redis_was_never_reachable(settings, asgi_server, client, make_user):
    """A web process started while Redis is down (nothing listens on that port)."""
    import socket

    from textdesk.live import bus

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    bus.reset_bus()
    seller = make_user("seller")
    client.force_login(seller)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    with httpx.Client(base_url=asgi_server.url, cookies=cookies, timeout=30) as http:
        with http.stream("GET", "/live/events") as response:
            assert response.status_code == 200
            assert next(_events(response.iter_lines()))[1]["state"] == "degraded"
        # the rest of the product answers as usual, and publishing is a no-op rather than an error
        assert http.get("/healthz").json()["redis"] == "unavailable"
    bus.get_bus().publish(bus.user_channel(seller.pk), {"event": "notification.read", "unread": 0})
    bus.reset_bus()
