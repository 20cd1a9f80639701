from __future__ import annotations

import pytest

from tests.providers.helpers import Replay, Sink, ThreadedServer


@pytest.fixture
def simulator():
    from textdesk.simulator.server import start_in_thread

    handle = start_in_thread(host="127.0.0.1", port=0)
    handle.state.configure({"callback_delays": [0, 0], "retry_delay": 0})
    yield handle
    handle.stop()


@pytest.fixture
def sink():
    receiver = Sink()
    server = ThreadedServer(receiver.app())
    receiver.url = server.url
    yield receiver
    server.stop()


@pytest.fixture
def replay():
    answer = Replay()
    server = ThreadedServer(answer.app())
    answer.url = server.url
    yield answer
    server.stop()
