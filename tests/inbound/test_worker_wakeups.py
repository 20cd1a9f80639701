"""Wake-ups that piled up while a worker was busy cost one pass, not one pass each."""

from __future__ import annotations

import threading
import time

import pytest


def test_draining_takes_every_waiting_wake_up():
    from textdesk.jobs.worker import _drain
    from textdesk.live.bus import WAKE_CHANNEL, LocalBus

    bus = LocalBus()
    with bus.subscribe([WAKE_CHANNEL]) as wake:
        for _ in range(500):
            bus.wake()
        _drain(wake)
        assert wake.get(timeout=0) is None
        bus.wake()  # a later one still wakes
        assert wake.get(timeout=0.5) == (WAKE_CHANNEL, {})


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_wake_ups_during_a_pass_makes_one_more_pass(monkeypatch):
    """200 webhooks stored while the worker routes: the next pass serves all their wake-ups (the worker used to
    make an empty pass per wake-up, thousands per second under load)."""
    from textdesk.jobs import worker as worker_module
    from textdesk.live import bus

    local = bus.LocalBus()
    monkeypatch.setattr(bus, "get_bus", lambda: local)
    passes: list[float] = []
    first_pass = threading.Event()
    release = threading.Event()

    def counting_poller(worker_id: str) -> int:
        passes.append(time.monotonic())
        if len(passes) == 1:
            first_pass.set()
            release.wait(5)  # a long pass: the wake-ups arrive meanwhile
        return 0

    monkeypatch.setattr(worker_module, "POLLERS", [counting_poller])
    monkeypatch.setattr(worker_module, "load_handlers", lambda: None)
    worker = worker_module.Worker(name="wakeups", idle_wait=5.0)
    thread = worker.start_in_thread()
    try:
        assert first_pass.wait(5)
        time.sleep(0.1)  # subscribed before the pass began
        for _ in range(200):
            local.wake()
        release.set()
        time.sleep(0.5)
    finally:
        worker.stop()
        local.wake()
        thread.join(10)
    assert not thread.is_alive()
    assert 2 <= len(passes) <= 4, len(passes)


@pytest.mark.parametrize(("found", "lingers"), [(0, False), (1, False), (2, True), (199, True), (200, False)])
def test_the_routing_poller_lingers_only_under_load(monkeypatch, settings, found, lingers):
    """A trickle (one message per pass) is routed at once; a pass that found several (not a full batch) waits for
    more; a full batch goes straight on (more are waiting)."""
    from textdesk.messaging import tasks

    settings.ROUTING_LINGER_MS = 40
    monkeypatch.setattr(tasks, "route_pending", lambda worker_id: found)
    monkeypatch.setattr(tasks, "batch_size", lambda: 200)
    slept: list[float] = []
    monkeypatch.setattr(tasks, "_linger", slept.append)
    done = tasks.route_inbound("w")
    assert done == found
    assert done.more == (found == 200)  # only a full batch may have left messages behind
    assert slept == ([0.04] if lingers else [])


@pytest.mark.parametrize(("first", "passes_at_once"), [(("partial", 5), 1), (("full", 200), 2), (("count", 3), 2)])
def test_after_a_pass_the_worker_goes_on_only_if_work_was_left(monkeypatch, first, passes_at_once):
    """A pass that took less than a batch took everything there was: the worker waits for the next wake-up
    instead of an empty pass (a claim, a transaction) after every pass. A full batch, or a poller that returns a
    plain count, gets another pass at once."""
    from textdesk.jobs import worker as worker_module
    from textdesk.live import bus

    local = bus.LocalBus()
    monkeypatch.setattr(bus, "get_bus", lambda: local)
    monkeypatch.setattr(worker_module.queue, "claim", lambda *args, **kwargs: [])
    monkeypatch.setattr(worker_module.queue, "next_due_in", lambda max_wait: max_wait)
    monkeypatch.setattr(worker_module.queue, "PIPELINES", {})  # pollers only (the send pipeline needs PostgreSQL)
    kind, handled = first
    passes: list[int] = []

    def poller(worker_id: str) -> int:
        passes.append(len(passes))
        if len(passes) > 1:
            return worker_module.Pass(0, False)
        if kind == "count":
            return handled
        return worker_module.Pass(handled, more=kind == "full")

    monkeypatch.setattr(worker_module, "POLLERS", [poller])
    monkeypatch.setattr(worker_module, "load_handlers", lambda: None)
    worker = worker_module.Worker(name="more", idle_wait=5.0)
    thread = worker.start_in_thread()
    try:
        time.sleep(0.5)
        assert len(passes) == passes_at_once
        local.wake()  # a new item's wake-up: one more pass
        time.sleep(0.3)
        assert len(passes) == passes_at_once + 1
    finally:
        worker.stop()
        local.wake()
        thread.join(10)
