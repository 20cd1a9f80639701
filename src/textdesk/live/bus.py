"""Publish/subscribe for live updates and worker wake-ups.

With ``TEXTDESK_REDIS_URL`` set, events cross processes through Redis pub/sub
(several web and worker processes). Without it, they stay inside the process,
which is what the single-process embedded mode needs. Events are published only
after the surrounding transaction commits, so nobody is told about data they
cannot read yet.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

# Several installations (or test runs) may share one Redis: TEXTDESK_BUS_PREFIX keeps them apart.
PREFIX = settings.BUS_PREFIX
WAKE_CHANNEL = f"{PREFIX}:wake"


def user_channel(user_id: int) -> str:
    return f"{PREFIX}:user:{user_id}"


class LocalBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[queue.SimpleQueue]] = {}

    def publish(self, channel: str, data: dict) -> None:
        with self._lock:
            targets = list(self._subscribers.get(channel, ()))
        for q in targets:
            q.put((channel, data))

    def publish_many(self, items: list[tuple[str, dict]]) -> None:
        for channel, data in items:
            self.publish(channel, data)

    def wake(self) -> None:
        self.publish(WAKE_CHANNEL, {})

    def subscribe(self, channels: list[str]) -> Subscription:
        q: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            for ch in channels:
                self._subscribers.setdefault(ch, set()).add(q)

        def close() -> None:
            with self._lock:
                for ch in channels:
                    self._subscribers.get(ch, set()).discard(q)

        def get(timeout: float):
            try:
                return q.get(timeout=timeout)
            except queue.Empty:
                return None

        return Subscription(get, close)


class RedisBus:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._waker = _CoalescingWaker(lambda: self.publish(WAKE_CHANNEL, {}))

    def publish(self, channel: str, data: dict) -> None:
        try:
            self._redis.publish(channel, json.dumps(data))
        except Exception:  # push is best effort; the data is already committed
            log.warning("could not publish to %s", channel, exc_info=True)

    def publish_many(self, items: list[tuple[str, dict]]) -> None:
        """Many events in one round trip (a pipeline without MULTI), one ``PUBLISH`` per channel: a channel's
        several events travel as one :data:`BUNDLE` (a routing batch tells one seller of dozens of messages), which
        :class:`Subscription` hands out one by one again, in order."""
        if not items:
            return
        by_channel: dict[str, list[dict]] = {}
        for channel, data in items:
            by_channel.setdefault(channel, []).append(data)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for channel, events in by_channel.items():
                pipe.publish(channel, json.dumps(events[0] if len(events) == 1 else {BUNDLE: events}))
            pipe.execute()
        except Exception:  # push is best effort; the data is already committed
            log.warning("could not publish %s events", len(items), exc_info=True)

    def wake(self) -> None:
        self._waker.request()

    def subscribe(self, channels: list[str]) -> Subscription:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(*channels)

        def get(timeout: float):
            msg = pubsub.get_message(timeout=timeout)
            if msg is None:
                return None
            return msg["channel"].decode(), json.loads(msg["data"])

        return Subscription(get, pubsub.close)


class _CoalescingWaker:
    """Wake-ups published from a thread of their own, many requests to one ``PUBLISH``.

    Every webhook that stores a message asks to wake the workers. Publishing each
    one would add a Redis round trip to every acknowledgement; here the request only
    sets a flag, and this thread publishes once for all the requests made since its
    last publish, then pauses ``spacing`` seconds. A request is always followed by a
    publish that starts after it, so no stored message waits for the idle poll.
    """

    def __init__(self, publish, spacing: float = 0.002) -> None:
        self._publish = publish
        self._spacing = spacing
        self._requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        self._requested.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="textdesk-wake", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            self._requested.wait()
            self._requested.clear()
            self._publish()
            time.sleep(self._spacing)


BUNDLE = "bundle"  # {"bundle": [event, …]}: several events of one channel in one publish


class Subscription:
    """What a subscriber reads: ``get(timeout)`` → ``(channel, data)`` or None, one event at a time (bundles
    unpacked)."""

    def __init__(self, get, close) -> None:
        self._get = get
        self._unread: list[tuple[str, dict]] = []
        self.close = close

    def get(self, timeout: float) -> tuple[str, dict] | None:
        if not self._unread:
            item = self._get(timeout)
            if item is None:
                return None
            channel, data = item
            bundled = data.get(BUNDLE) if isinstance(data, dict) else None
            if not isinstance(bundled, list):
                return item
            self._unread = [(channel, event) for event in bundled if isinstance(event, dict)]
            if not self._unread:
                return None
        return self._unread.pop(0)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def iter(self, timeout: float) -> Iterator[tuple[str, dict] | None]:
        while True:
            yield self.get(timeout)


_bus = None
_bus_lock = threading.Lock()


def get_bus():
    global _bus
    if _bus is None:
        with _bus_lock:
            if _bus is None:
                _bus = RedisBus(settings.REDIS_URL) if settings.REDIS_URL else LocalBus()
    return _bus


def reset_bus() -> None:
    """Forget the bus (tests switch settings)."""
    global _bus
    _bus = None


def notify_users_on_commit(user_ids, event: str, data: dict | None = None) -> None:
    payload = {"event": event, **(data or {})}
    ids = sorted(set(user_ids))
    transaction.on_commit(lambda: [get_bus().publish(user_channel(uid), payload) for uid in ids])


def publish_many_on_commit(items: list[tuple[str, dict]]) -> None:
    """Publish the given ``(channel, data)`` events after commit, together."""
    if items:
        items = list(items)
        transaction.on_commit(lambda: get_bus().publish_many(items))


def wake_workers_on_commit() -> None:
    transaction.on_commit(lambda: get_bus().wake())
