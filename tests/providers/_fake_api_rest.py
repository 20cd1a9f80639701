"""A local stand-in for a provider's REST API, plus the recorded-fixture runner for the REST adapters.

``FakeApi`` is a real HTTP server on 127.0.0.1 (ephemeral port). Tests queue the answers the provider would give
(status, headers, raw body, optionally held back to simulate a slow answer) and read back every request it got.

Fixture files (``fixtures/<provider>/*.json``) are lists of cases built from the providers' documented examples:

- a webhook case records what the provider sends us: ``request`` = {method, url, headers, body} (raw body text),
  ``parser`` = "inbound" | "status", optional ``received_at``, and ``expect`` = the parsed result or ``rejected``;
- a send case records what the provider answers to a send: ``responses`` = [{status, headers, body}], and
  ``expect`` = ``result`` (SendResult fields) or ``error`` (class, reason, code, retry_after).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from textdesk.providers import base

FIXTURES = Path(__file__).parent / "fixtures"


# ---------------------------------------------------------------- the fake API server


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    body: bytes = b"{}"
    hold: bool = False  # answer only when the test ends: a "slow" provider


@dataclass
class Received:
    method: str
    path: str  # path + query string, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a held answer closes the socket: expected, not a failure


class FakeApi:
    def __init__(self):
        self.replies: deque[Reply] = deque()
        self.received: list[Received] = []
        self._release = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                api.received.append(Received(self.command, self.path,
                                             {k.lower(): v for k, v in self.headers.items()}, body))
                reply = api.replies.popleft() if api.replies else Reply(
                    500, {"content-type": "text/plain"}, b"no reply queued in the fake API")
                if reply.hold:
                    api._release.wait()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, status: int = 200, body: bytes | str | dict | list = b"{}", headers: dict | None = None,
              hold: bool = False) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.replies.append(Reply(status, headers or {"content-type": "application/json"}, body, hold))

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- fixtures


def fixture_files(provider: str) -> list[Path]:
    return sorted((FIXTURES / provider).glob("*.json"))


def load_cases(provider: str) -> list[tuple[str, dict]]:
    """(id, case) for every case of every fixture file of a provider."""
    cases = []
    for path in fixture_files(provider):
        for index, case in enumerate(json.loads(path.read_text())):
            cases.append((f"{path.stem}[{index}] {case['name']}", case))
    return cases


def webhook_request(case: dict) -> base.WebhookRequest:
    recorded = case["request"]
    return base.WebhookRequest(
        method=recorded["method"],
        url=recorded["url"],
        headers={k.lower(): v for k, v in recorded["headers"].items()},
        body=recorded["body"].encode("utf-8"),
    )


def received_at(case: dict) -> dt.datetime:
    if case.get("received_at"):
        return dt.datetime.fromisoformat(case["received_at"])
    return dt.datetime.now(dt.timezone.utc)


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def assert_subset(actual_obj, expected: dict, label: str) -> None:
    actual = {k: _plain(v) for k, v in dataclasses.asdict(actual_obj).items()}
    for key, value in expected.items():
        assert actual[key] == value, f"{label}: {key} is {actual[key]!r}, expected {value!r}"


def run_webhook_case(provider, account: base.AccountConfig, case: dict) -> None:
    request = webhook_request(case)
    expect = case["expect"]
    parse = provider.parse_inbound if case["parser"] == "inbound" else provider.parse_status
    provider.verify(account, request, received_at(case))  # every recorded webhook is authentic
    if "rejected" in expect:
        try:
            parse(account, request)
        except base.WebhookRejected as exc:
            assert exc.status == expect["rejected"], exc.reason
            return
        raise AssertionError("malformed webhook was accepted")
    parsed = parse(account, request)
    for kind in ("inbound", "statuses"):
        if kind in expect:
            items = getattr(parsed, kind)
            assert len(items) == len(expect[kind]), f"{kind}: {items}"
            for index, (item, wanted) in enumerate(zip(items, expect[kind])):
                assert_subset(item, wanted, f"{kind}[{index}]")
    if expect.get("response"):
        wanted = expect["response"]
        assert parsed.response is not None
        assert parsed.response.status == wanted["status"]
        assert parsed.response.content_type == wanted["content_type"]
        assert json.loads(parsed.response.body) == wanted["json"]
    else:
        assert parsed.response is None


def run_send_case(provider, account_for, case: dict, message: base.OutboundSMS) -> list[Received]:
    """Replay the recorded answers from a local server and check what the adapter makes of them."""
    api = FakeApi()
    try:
        for recorded in case["responses"]:
            api.reply(recorded["status"], recorded["body"], recorded["headers"])
        account = account_for(api.url)
        expect = case["expect"]
        with httpx.Client(timeout=5) as client:
            if "result" in expect:
                result = provider.send(account, message, client)
                assert_subset(result, expect["result"], "result")
            else:
                wanted = expect["error"]
                try:
                    provider.send(account, message, client)
                except base.ProviderError as exc:
                    assert type(exc).__name__ == wanted["class"], f"{type(exc).__name__}: {exc}"
                    assert exc.reason == wanted["reason"], exc
                    if "code" in wanted:
                        assert exc.code == wanted["code"], exc
                    if "retry_after" in wanted:
                        assert exc.retry_after == wanted["retry_after"], exc
                else:
                    raise AssertionError("send succeeded but the recorded answer is an error")
        assert not api.replies, "the adapter did not make every expected request"
        return api.received
    finally:
        api.close()


def covered_codes(provider: str) -> tuple[set[str], set[str]]:
    """(provider statuses, error codes) that the fixtures of a provider exercise."""
    statuses, codes = set(), set()
    for _, case in load_cases(provider):
        expect = case["expect"]
        for report in expect.get("statuses", []):
            if "provider_status" in report:
                statuses.add(report["provider_status"])
            if report.get("error_code"):
                codes.add(report["error_code"])
            if report.get("error_text"):
                codes.add(report["error_text"])
        if "result" in expect and expect["result"].get("provider_status"):
            statuses.add(expect["result"]["provider_status"])
        if "error" in expect and expect["error"].get("code"):
            codes.add(expect["error"]["code"])
    return statuses, codes
