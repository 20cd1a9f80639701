"""Test helpers: recorded fixtures, and small real HTTP servers on 127.0.0.1 (port 0) run in threads."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from textdesk.providers.base import AccountConfig, WebhookRequest

WAIT_LIMIT = 30.0  # upper bound when waiting for something the simulator does in the background


def fixture_request(recorded: dict[str, Any]) -> WebhookRequest:
    request = recorded["request"]
    return WebhookRequest(
        method=request["method"],
        url=request["url"],
        headers={name.lower(): value for name, value in request["headers"].items()},
        body=request["body"].encode("utf-8"),
        received_at=dt.datetime(2026, 11, 21, 22, 7, tzinfo=dt.UTC),
    )


def twilio_account(token: str, sid: str = "AC5ef872f6da5a21de157d80997a64bd33", base_url: str = "") -> AccountConfig:
    options = {"base_url": base_url} if base_url else {}
    return AccountConfig(kind="twilio", credentials={"account_sid": sid, "auth_token": token}, options=options)


class ThreadedServer:
    """Runs an ASGI app with uvicorn in a daemon thread on 127.0.0.1 and an ephemeral port."""

    def __init__(self, app) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "test server failed to start"
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def as_webhook(self) -> WebhookRequest:
        return WebhookRequest(
            method=self.method, url=self.url, headers=self.headers, body=self.body, received_at=dt.datetime.now(dt.UTC)
        )


@dataclass
class Sink:
    """Stands in for TextDesk's webhook endpoint: records every request and answers with a chosen status."""

    answers: list[int] = field(default_factory=list)  # statuses to answer, in turn; then 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append(Received(request.method, str(request.url), dict(request.headers), body))
            status = self.answers.pop(0) if self.answers else 200
        return Response(status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    def wait_for(self, count: int, path: str = "") -> list[Received]:
        deadline = time.monotonic() + WAIT_LIMIT
        while True:
            with self.lock:
                matching = [r for r in self.received if path in r.url]
            if len(matching) >= count or time.monotonic() > deadline:
                return matching
            time.sleep(0.01)


@dataclass
class Replay:
    """Answers every request with one recorded response, and keeps the requests it got."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    requests: list[Received] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        self.requests.append(Received(request.method, str(request.url), dict(request.headers), await request.body()))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "content-type"}
        return Response(
            self.body, status_code=self.status, headers=headers, media_type=self.headers.get("Content-Type")
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])
