"""The real ASGI application served by uvicorn on 127.0.0.1 (ephemeral port) in a thread, for tests."""

from __future__ import annotations

import threading
import time

import uvicorn


class LiveServer:
    def __init__(self, app=None) -> None:
        if app is None:
            from textdesk.asgi import application as app
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="test-uvicorn", daemon=True)
        self.url = ""

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        from textdesk.messaging.inbound import intake_pg

        self.server.should_exit = True
        self.thread.join(timeout=10)  # its lifespan's shutdown closes the webhook connections on its loop
        intake_pg.close_pools()  # those of a server that did not stop in time


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true (the result is asserted by the caller, not the time taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
