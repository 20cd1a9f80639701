"""Events published together (one Redis pipeline per routing batch) arrive one by one, in order."""

from __future__ import annotations

import os
import uuid

import pytest

from textdesk.live.bus import LocalBus, RedisBus

REDIS_URL = os.environ.get("TEXTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_or_skip() -> RedisBus:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1")
    return RedisBus(REDIS_URL)


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_publish_many_delivers_each_event_to_its_channel_in_order(kind):
    bus = LocalBus() if kind == "local" else _redis_or_skip()
    prefix = f"test-{uuid.uuid4().hex}"
    one, two = f"{prefix}:user:1", f"{prefix}:user:2"
    with bus.subscribe([one, two]) as sub:
        if kind == "redis":  # read the two subscription confirmations (nothing is published yet)
            assert sub.get(1.0) is None and sub.get(1.0) is None
        bus.publish_many([(one, {"event": "message.new", "n": 1}), (two, {"event": "message.new", "n": 2}),
                          (one, {"event": "notification.new", "unread": 3})])
        received = []
        for _ in range(10):
            event = sub.get(0.5)
            if event is not None:
                received.append(event)
            if len(received) == 3:
                break
    assert received == [(one, {"event": "message.new", "n": 1}), (two, {"event": "message.new", "n": 2}),
                        (one, {"event": "notification.new", "unread": 3})]
