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
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import transaction

from textdesk.live import events
from textdesk.live.events import validate

log = logging.getLogger(__name__)

# Several installations (or test runs) may share one Redis: TEXTDESK_BUS_PREFIX keeps them apart.
PREFIX = settings.BUS_PREFIX
WAKE_CHANNEL = f"{PREFIX}:wake"


def user_channel(user_id: int) -> str:
    return f"{PREFIX}:user:{user_id}"


# Not a Redis channel: the bus's own state ("ok" / "degraded") told to the local subscribers that ask for it.
STATE_CHANNEL = f"{PREFIX}:bus-state"
# Subscribed by every process so that its one Redis connection always has a subscription (nobody publishes here).
_ALIVE_CHANNEL = f"{PREFIX}:bus-alive"

Sink = Callable[[str, dict], None]  # called with (channel, event) from the bus's thread or a publisher's thread


class _Fanout:
    """Local subscribers by channel: each event reaches every sink of its channel once, in publish order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sinks: dict[str, set[Sink]] = {}

    def add(self, channels: list[str], sink: Sink) -> list[str]:
        """Register ``sink``; returns the channels nobody listened to before."""
        with self._lock:
            fresh = [ch for ch in channels if not self._sinks.get(ch)]
            for ch in channels:
                self._sinks.setdefault(ch, set()).add(sink)
        return fresh

    def remove(self, channels: list[str], sink: Sink) -> list[str]:
        """Unregister ``sink``; returns the channels nobody listens to any more."""
        emptied = []
        with self._lock:
            for ch in channels:
                sinks = self._sinks.get(ch)
                if sinks is None:
                    continue
                sinks.discard(sink)
                if not sinks:
                    del self._sinks[ch]
                    emptied.append(ch)
        return emptied

    def channels(self) -> list[str]:
        with self._lock:
            return list(self._sinks)

    def count(self, channel: str) -> int:
        with self._lock:
            return len(self._sinks.get(channel, ()))

    def deliver(self, channel: str, data: dict) -> None:
        with self._lock:
            sinks = list(self._sinks.get(channel, ()))
        for sink in sinks:
            try:
                sink(channel, data)
            except Exception:  # one stream gone wrong (its event loop closed) must not starve the others
                log.debug("a live subscriber failed", exc_info=True)


def _queue_subscription(bus, channels: list[str]) -> Subscription:
    """A blocking subscription (for threads: the worker's wake-ups, tests) over ``bus.listen``."""
    q: queue.SimpleQueue = queue.SimpleQueue()
    stop = bus.listen(channels, lambda channel, data: q.put((channel, data)))

    def get(timeout: float):
        try:
            return q.get(timeout=timeout)
        except queue.Empty:
            return None

    return Subscription(get, stop)


class LocalBus:
    """Events stay inside this process (the embedded single-process mode, tests)."""

    connected = True

    def __init__(self) -> None:
        self._fanout = _Fanout()

    def publish(self, channel: str, data: dict) -> None:
        validate(channel, data)
        self._fanout.deliver(channel, data)

    def publish_many(self, items: list[tuple[str, dict]]) -> None:
        for channel, data in items:
            self.publish(channel, data)

    def wake(self) -> None:
        self.publish(WAKE_CHANNEL, {})

    def listen(self, channels: list[str], sink: Sink, state: bool = False) -> Callable[[], None]:
        """Call ``sink(channel, event)`` for every event of ``channels`` until the returned function is called."""
        self._fanout.add(channels, sink)

        def stop() -> None:
            self._fanout.remove(channels, sink)

        return stop

    def subscribe(self, channels: list[str]) -> Subscription:
        return _queue_subscription(self, channels)

    def listeners(self, channel: str) -> int:
        """How many local subscribers ``channel`` has in this process."""
        return self._fanout.count(channel)

    def health(self) -> str:
        return "in-process"


class RedisBus:
    """Events cross processes through Redis. Each process holds one subscribing connection, read by one thread
    that hands every event to the local subscribers of its channel (:class:`_Fanout`): a thousand open streams
    cost a thousand queue entries, not a thousand connections and threads.

    Redis may be down, at start-up or for a while: publishing then drops the event (the data is committed; screens
    catch up on their next refresh), subscribing still succeeds, and the reading thread reconnects with growing
    delays, subscribing again to every channel somebody listens to. Subscribers that asked for the bus's state
    hear ``degraded`` when the connection is lost and ``ok`` when it is back.
    """

    # After a failed publish, publishing is not attempted for this long (a request does not wait on a dead Redis).
    PAUSE_AFTER_FAILURE = 1.0

    def __init__(self, url: str) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._url = url
        self._no_retry = Retry(NoBackoff(), 0)  # our own back-off decides when to try again
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2, retry=self._no_retry)
        self._waker = _CoalescingWaker(lambda: self.publish(WAKE_CHANNEL, {}))
        self._fanout = _Fanout()
        self._state_sinks: set[Sink] = set()
        self._lock = threading.Lock()  # guards the subscribing connection (several threads send on it)
        self._pubsub: redis.client.PubSub | None = None
        self._confirmations: dict[str, threading.Event] = {}
        self._reader: threading.Thread | None = None
        self._paused_until = 0.0
        self.connected = False

    # -- publishing --

    def _publishing_paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def _publish_failed(self, what: str) -> None:
        first = not self._publishing_paused()
        self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE
        if first:
            log.warning("could not publish %s: Redis unreachable; live updates degrade until it is back", what)

    def publish(self, channel: str, data: dict) -> None:
        validate(channel, data)
        if self._publishing_paused():
            return
        try:
            self._redis.publish(channel, json.dumps(data))
        except Exception:  # push is best effort; the data is already committed
            self._publish_failed(channel)

    def publish_many(self, items: list[tuple[str, dict]]) -> None:
        """Many events in one round trip (a pipeline without MULTI), one ``PUBLISH`` per channel: a channel's
        several events travel as one :data:`BUNDLE` (a routing batch tells one seller of dozens of messages), which
        the reading thread hands out one by one again, in order."""
        if not items:
            return
        by_channel: dict[str, list[dict]] = {}
        for channel, data in items:
            validate(channel, data)
            by_channel.setdefault(channel, []).append(data)
        if self._publishing_paused():
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for channel, events in by_channel.items():
                pipe.publish(channel, json.dumps(events[0] if len(events) == 1 else {BUNDLE: events}))
            pipe.execute()
        except Exception:  # push is best effort; the data is already committed
            self._publish_failed(f"{len(items)} events")

    def wake(self) -> None:
        self._waker.request()

    def health(self) -> str:
        try:
            self._redis.ping()
        except Exception:
            return "unavailable"
        return "ok"

    # -- subscribing --

    def listen(self, channels: list[str], sink: Sink, state: bool = False) -> Callable[[], None]:
        """Call ``sink(channel, event)`` for every event of ``channels`` until the returned function is called.

        Returns once Redis has confirmed the subscription (events published afterwards are delivered), or at once
        when Redis is unreachable. With ``state``, the sink also hears the bus's state on :data:`STATE_CHANNEL`.
        """
        self._start_reader()
        waits: list[threading.Event] = []
        # The local bookkeeping and the Redis command change together under one lock, so that Redis hears
        # subscribes and unsubscribes in the order the channels gained and lost their listeners (a tab reloading
        # closes its stream while the new one opens: the new one must not be left with an unsubscribed channel).
        with self._lock:
            if state:
                self._state_sinks.add(sink)
            fresh = self._fanout.add(channels, sink)
            pubsub = self._pubsub
            if pubsub is not None:
                # A channel another subscriber subscribed to a moment ago may not be confirmed yet: wait for it too.
                waits = [self._confirmations[ch] for ch in channels if ch in self._confirmations]
                if fresh:
                    for ch in fresh:
                        waits.append(self._confirmations.setdefault(ch, threading.Event()))
                    try:
                        pubsub.subscribe(*fresh)
                    except Exception:  # the reading thread notices too, reconnects and subscribes again
                        waits = []
        for confirmed in waits:
            confirmed.wait(1.0)

        def stop() -> None:
            with self._lock:
                self._state_sinks.discard(sink)
                emptied = self._fanout.remove(channels, sink)
                if emptied and self._pubsub is not None:
                    try:
                        self._pubsub.unsubscribe(*emptied)
                    except Exception:
                        pass  # reconnecting subscribes to the current channels only

        return stop

    def subscribe(self, channels: list[str]) -> Subscription:
        return _queue_subscription(self, channels)

    def listeners(self, channel: str) -> int:
        """How many local subscribers ``channel`` has in this process."""
        return self._fanout.count(channel)

    def _start_reader(self) -> None:
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    self._reader = threading.Thread(target=self._read_forever, name="textdesk-bus", daemon=True)
                    self._reader.start()

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            changed = connected != self.connected
            self.connected = connected
            sinks = list(self._state_sinks)
        if changed:
            event = events.bus_state(ok=connected)
            for sink in sinks:
                try:
                    sink(STATE_CHANNEL, event)
                except Exception:
                    log.debug("a live subscriber failed", exc_info=True)

    def _read_forever(self) -> None:
        import redis

        from textdesk.jobs.supervisor import Backoff

        backoff = Backoff(first=0.2, cap=10.0)
        outage_since: float | None = None
        while True:
            pubsub: redis.client.PubSub | None = None
            try:
                client = redis.Redis.from_url(
                    self._url, socket_connect_timeout=2, health_check_interval=5, retry=self._no_retry
                )
                pubsub = client.pubsub()
                with self._lock:
                    pubsub.subscribe(_ALIVE_CHANNEL, *self._fanout.channels())
                    self._pubsub = pubsub
                self._set_connected(True)
                if outage_since is not None:
                    log.warning("live updates: Redis reachable again after %.1f s", time.monotonic() - outage_since)
                    outage_since = None
                backoff.reset()
                while True:
                    self._dispatch(pubsub.get_message(timeout=5.0))
            except Exception:
                with self._lock:
                    self._pubsub = None
                    for confirmed in self._confirmations.values():
                        confirmed.set()  # nobody waits for a confirmation that cannot come
                    self._confirmations.clear()
                self._set_connected(False)
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning("live updates: Redis unreachable; reconnecting with back-off", exc_info=True)
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass
                time.sleep(backoff.next())

    def _dispatch(self, message: dict | None) -> None:
        if message is None:
            return
        kind = message.get("type")
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        if kind == "subscribe":
            with self._lock:
                confirmed = self._confirmations.pop(channel, None)
            if confirmed is not None:
                confirmed.set()
            return
        if kind != "message":
            return
        try:
            data = json.loads(message["data"])
        except ValueError:
            log.warning("ignored a malformed event on %s", channel)
            return
        bundled = data.get(BUNDLE) if isinstance(data, dict) else None
        if isinstance(bundled, list):
            for event in bundled:
                if isinstance(event, dict):
                    self._fanout.deliver(channel, event)
        elif isinstance(data, dict):
            self._fanout.deliver(channel, data)


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
    """Tell each user ``event`` (a name of :mod:`textdesk.live.events`) after commit. The event is checked against
    its type now, so a malformed one fails where it is made (in tests) rather than in a commit hook."""
    payload = {"event": event, **(data or {})}
    ids = sorted(set(user_ids))
    if ids:
        validate(user_channel(ids[0]), payload)
    transaction.on_commit(lambda: get_bus().publish_many([(user_channel(uid), payload) for uid in ids]))


def publish_many_on_commit(items: list[tuple[str, dict]]) -> None:
    """Publish the given ``(channel, data)`` events after commit, together (each checked against its type now)."""
    if items:
        items = list(items)
        for channel, data in items:
            validate(channel, data)
        transaction.on_commit(lambda: get_bus().publish_many(items))


def wake_workers_on_commit() -> None:
    transaction.on_commit(lambda: get_bus().wake())
