"""Events published together (one Redis pipeline per routing batch) arrive one by one, in order per channel."""

from __future__ import annotations

import os
import time
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
        bus.publish_many(
            [
                (one, {"event": "message.new", "conversation_id": 1, "message_id": 1}),
                (two, {"event": "message.new", "conversation_id": 1, "message_id": 2}),
                (one, {"event": "notification.new", "unread": 3}),
            ]
        )
        received = []
        for _ in range(10):
            event = sub.get(0.5)
            if event is not None:
                received.append(event)
            if len(received) == 3:
                break
    assert [e for e in received if e[0] == one] == [
        (one, {"event": "message.new", "conversation_id": 1, "message_id": 1}),
        (one, {"event": "notification.new", "unread": 3}),
    ]
    assert [e for e in received if e[0] == two] == [
        (two, {"event": "message.new", "conversation_id": 1, "message_id": 2})
    ]


def test_over_redis_a_channels_events_are_one_publish():
    """A routing batch tells one seller of many messages: one PUBLISH carries them (what a plain Redis subscriber
    sees), and a subscription hands them out one by one."""
    import json

    import redis

    bus = _redis_or_skip()
    channel = f"test-{uuid.uuid4().hex}:user:1"
    raw = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
    raw.subscribe(channel)
    assert raw.get_message(timeout=1.0) is None  # the confirmation
    with bus.subscribe([channel]) as sub:
        assert sub.get(1.0) is None
        bus.publish_many(
            [(channel, {"event": "message.new", "conversation_id": 1, "message_id": n}) for n in range(30)]
        )
        received = [sub.get(1.0) for _ in range(30)]
    assert received == [(channel, {"event": "message.new", "conversation_id": 1, "message_id": n}) for n in range(30)]
    published = raw.get_message(timeout=1.0)
    assert json.loads(published["data"]) == {
        "bundle": [{"event": "message.new", "conversation_id": 1, "message_id": n} for n in range(30)]
    }
    assert raw.get_message(timeout=0.2) is None
    raw.close()


def test_a_burst_of_wake_requests_becomes_a_few_publishes_and_the_last_one_follows_the_last_request():
    """Each stored webhook asks to wake the workers; over Redis the requests are coalesced, never dropped."""
    from textdesk.live.bus import _CoalescingWaker

    published: list[float] = []
    waker = _CoalescingWaker(lambda: published.append(time.monotonic()), spacing=0.01)
    last_request = 0.0
    for _ in range(200):
        waker.request()
        last_request = time.monotonic()
        time.sleep(0.0005)
    deadline = time.monotonic() + 2
    while (not published or published[-1] < last_request) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert published and published[-1] >= last_request  # the last request got a publish after it
    assert len(published) < 100  # ~0.1 s of requests at 2,000/s with 10 ms spacing: about ten publishes


def test_a_wake_over_redis_reaches_a_subscribed_worker():
    bus = _redis_or_skip()
    from textdesk.live.bus import WAKE_CHANNEL

    with bus.subscribe([WAKE_CHANNEL]) as sub:
        assert sub.get(1.0) is None  # the subscription confirmation
        bus.wake()
        assert sub.get(2.0) == (WAKE_CHANNEL, {})
