"""A provider REST API stand-in: a real HTTP server on 127.0.0.1 (ephemeral port) that answers with the
recorded responses it is given, in order, and records every request it receives."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # hold the answer until the server stops (the client times out first)


class FakeProviderAPI:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: deque[Answer] = deque()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, status: int, body: bytes | str | dict | list = b"", headers: dict[str, str] | None = None,
               hang: bool = False) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"content-type": "application/json", **(headers or {})}
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._answers.append(Answer(status, body, dict(headers or {}), hang))

    def answer_recorded(self, fixture: dict) -> None:
        """Queue a recorded response fixture ({status, headers, body})."""
        self.answer(fixture["status"], json.dumps(fixture["body"]), fixture.get("headers") or {})

    def start(self) -> FakeProviderAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.received.append(Received(self.command, self.path,
                                              {k.lower(): v for k, v in self.headers.items()}, body))
                answer = fake._answers.popleft() if fake._answers else Answer(599, b"no answer scripted")
                if answer.hang:
                    fake._release.wait(60)
                    self.close_connection = True
                    return
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _serve

            def log_message(self, format, *args):  # keep test output quiet
                pass

        return Handler


@pytest.fixture
def fake_api():
    api = FakeProviderAPI().start()
    yield api
    api.stop()


@pytest.fixture
def http_client():
    import httpx

    with httpx.Client() as client:
        yield client
