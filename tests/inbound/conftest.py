"""Fixtures of the inbound tests: a real uvicorn server on 127.0.0.1, Twilio-signed posts, a seller setup."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest

AUTH_TOKEN = "inbound-test-auth-token"


@pytest.fixture(autouse=True)
def _providers(monkeypatch):
    """A test-only provider that delivers messages in parts; a fresh account cache for every test."""
    from textdesk.messaging.inbound.intake_asgi import account_cache
    from textdesk.providers import registry

    monkeypatch.setitem(registry.MODULES, "test_concat", "tests.inbound.fake_concat")
    account_cache.clear()
    yield
    account_cache.clear()


def twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """Signed with Twilio's own SDK, independently of the code under test."""
    from twilio.request_validator import RequestValidator

    return RequestValidator(token).compute_signature(url, params)


class LiveServer:
    """textdesk.asgi.application served by uvicorn on an ephemeral port, in a thread."""

    def __init__(self) -> None:
        import uvicorn

        from textdesk.asgi import application

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(application, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        from textdesk.messaging.inbound import intake_pg

        self.server.should_exit = True
        self.thread.join(10)  # its lifespan's shutdown closes the webhook connections on its loop
        self.sock.close()
        intake_pg.close_pools()  # those of a server that did not stop in time


@pytest.fixture
def asgi_server(transactional_db, monkeypatch):
    """The server sees committed data only, hence ``transactional_db``. Connections are not kept
    between requests, so the test database can be dropped at the end."""
    from django.db import connections

    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    server = LiveServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Setup:
    seller: object
    account: object
    number: object

    @property
    def inbound_url(self) -> str:
        return self.account.inbound_url

    @property
    def status_url(self) -> str:
        return self.account.status_url


@pytest.fixture
def seller_setup(make_user, make_provider_account, make_sender_number):
    seller = make_user("seller")
    account = make_provider_account(credentials={"account_sid": "AC" + "1" * 32, "auth_token": AUTH_TOKEN})
    number = make_sender_number(e164="+14155550100", owner=seller, provider_account=account)
    return Setup(seller=seller, account=account, number=number)


def twilio_form(sid: str, from_: str, to: str, body: str, **extra) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "From": from_,
        "To": to,
        "Body": body,
        "NumSegments": "1",
        "NumMedia": "0",
        **extra,
    }


def post_signed(
    server: LiveServer, public_url: str, params: dict[str, str], *, signature: str | None = None, **kwargs
) -> httpx.Response:
    """POST a Twilio-style form to the live server at the path of ``public_url`` (signed for ``public_url``)."""
    path = public_url.split("://", 1)[1].split("/", 1)[1]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is None:
        signature = twilio_signature(public_url, params)
    if signature:
        headers["X-Twilio-Signature"] = signature
    headers.update(kwargs.pop("headers", {}))
    return httpx.post(f"{server.url}/{path}", content=urlencode(params).encode(), headers=headers, timeout=10, **kwargs)


def wait_for(predicate, timeout: float = 15.0, step: float = 0.02):
    """Poll until ``predicate()`` is truthy (eventual outcomes of other threads); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached")
