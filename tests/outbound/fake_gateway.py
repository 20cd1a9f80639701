"""A tiny SMS gateway on 127.0.0.1 and its provider adapter, for tests of the sending pipeline.

The gateway speaks a small JSON API (POST /messages, GET /messages?reference=…), honours an
Idempotency-Key header like real providers do, records every request with its arrival time,
and can be told to answer a given recipient with scripted failures.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import types
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import httpx

from tests.local_server import LocalHTTPServer
from textdesk.domain import failures
from textdesk.providers.base import (
    CredentialField,
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
    SendResult,
    StatusReport,
)

PERMANENT_CODES = {
    "21211": (failures.INVALID_SENDING_PARAMETERS, False),
    "21610": (failures.RECIPIENT_OPTED_OUT, True),
    "30006": (failures.LANDLINE, False),
}


@dataclass
class Request:
    at: float  # time.monotonic() at arrival
    to: str
    body: str
    key: str
    reference: str
    sender: str
    first_attempted_at: str = ""  # as the adapter passed it on (a header), "" on a first attempt
    wall: float = field(default_factory=time.time)  # time.time() at arrival, to compare with rate-limit slots


@dataclass
class GatewayState:
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> provider id
    by_reference: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    release: threading.Event = field(default_factory=threading.Event)  # ends a "hold"
    statuses: dict[str, str] = field(default_factory=dict)  # provider id -> status answered by GET /messages/{id}

    def script(self, to: str, *actions) -> None:
        """Next answers for ``to``: "ok", "503", "429", "drop" (read, then close without answering),
        "hold" (accept, then answer only once ``release`` is set), or ("error", code, text) for a 400."""
        self.scripts[to].extend(actions)

    def sends_to(self, to: str) -> list[Request]:
        return [r for r in self.requests if r.to == to]

    def accepted_count(self) -> int:
        return len(self.accepted)


class _Handler(BaseHTTPRequestHandler):
    state: GatewayState

    def log_message(self, *args) -> None:
        pass

    def _json(self, status: int, data: dict, headers: dict | None = None) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.startswith("/messages/"):  # a sent message's status, as the gateway knows it now
            pid = url.path.rsplit("/", 1)[1]
            with self.state.lock:
                known = pid in self.state.accepted.values()
                status = self.state.statuses.get(pid, "sent")
            self._json(200, {"id": pid, "status": status}) if known else self._json(404, {"code": "not_found"})
            return
        ref = parse_qs(url.query).get("reference", [""])[0]
        with self.state.lock:
            found = self.state.by_reference.get(ref)
        if found is None:
            self._json(404, {"code": "not_found"})
        else:
            self._json(200, {"id": found, "status": "queued"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        key = self.headers.get("Idempotency-Key", "")
        state = self.state
        with state.lock:
            state.requests.append(
                Request(
                    time.monotonic(),
                    data["to"],
                    data["body"],
                    key,
                    data.get("reference", ""),
                    data["from"],
                    self.headers.get("First-Attempted-At", ""),
                )
            )
            action = state.scripts[data["to"]].popleft() if state.scripts[data["to"]] else "ok"
            if action == "ok" and key and key in state.accepted:
                existing = state.accepted[key]  # same key: the same message, not a second one
                action = ("replay", existing)
        if action == "hold":
            with state.lock:
                pid = f"SM{next(state.ids):08d}"
                state.accepted[key] = pid
                state.by_reference[data.get("reference", "")] = pid
            state.release.wait(30)
            self._json(201, {"id": pid, "status": "queued"})
            return
        if action == "drop":
            with state.lock:  # it did reach us and we accepted it, but the answer never leaves
                pid = f"SM{next(state.ids):08d}"
                state.accepted[key] = pid
                state.by_reference[data.get("reference", "")] = pid
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if action in ("503", "429"):
            self._json(
                int(action), {"code": action, "message": "try later"}, {"Retry-After": "1"} if action == "429" else None
            )
            return
        if isinstance(action, tuple) and action[0] == "error":
            self._json(400, {"code": action[1], "message": action[2]})
            return
        if isinstance(action, tuple) and action[0] == "replay":
            self._json(200, {"id": action[1], "status": "queued"})
            return
        with state.lock:
            pid = f"SM{next(state.ids):08d}"
            state.accepted[key] = pid
            state.by_reference[data.get("reference", "")] = pid
        self._json(201, {"id": pid, "status": "queued"})


def start_gateway() -> tuple[LocalHTTPServer, GatewayState, str]:
    state = GatewayState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = LocalHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state, f"http://127.0.0.1:{server.server_address[1]}"


class FakeProvider:
    """Adapter for the gateway above; it translates its answers into the neutral error hierarchy."""

    display_name = "Test gateway"
    credential_fields = (CredentialField("token", "Token"),)
    reports_delivery = True

    def __init__(
        self,
        kind: str,
        supports_idempotency: bool = False,
        supports_lookup: bool = False,
        supports_status_fetch: bool = False,
    ):
        self.kind = kind
        self.supports_status_fetch = supports_status_fetch
        self.supports_idempotency = supports_idempotency
        self.supports_lookup = supports_lookup

    def send(self, account, message, client) -> SendResult:
        headers = {"Idempotency-Key": message.idempotency_key} if self.supports_idempotency else {}
        if message.first_attempted_at is not None:
            headers["First-Attempted-At"] = message.first_attempted_at.isoformat()
        try:
            response = client.post(
                f"{account.base_url('http://invalid')}/messages",
                headers=headers,
                json={
                    "from": message.from_number,
                    "to": message.to_number,
                    "body": message.body,
                    "reference": message.client_reference,
                },
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, text=str(exc)) from exc
        except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, text=str(exc)) from exc
        return self._result(response)

    def _result(self, response: httpx.Response) -> SendResult:
        if response.status_code == 429:
            raise RetryableProviderError(
                failures.RATE_LIMITED,
                "429",
                "rate limited",
                retry_after=float(response.headers.get("Retry-After", "1")),
            )
        if response.status_code >= 500:
            raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, str(response.status_code), response.text)
        data = response.json()
        if response.status_code >= 400:
            reason, opt_out = PERMANENT_CODES.get(str(data.get("code")), (failures.UNKNOWN, False))
            raise PermanentProviderError(reason, str(data.get("code")), data.get("message", ""), opt_out=opt_out)
        return SendResult(provider_message_id=data["id"], status="queued", provider_status=data["status"])

    def lookup(self, account, message, client) -> SendResult | None:
        try:
            response = client.get(
                f"{account.base_url('http://invalid')}/messages", params={"reference": message.client_reference}
            )
        except httpx.HTTPError as exc:
            raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, text=str(exc)) from exc
        if response.status_code == 404:
            return None
        return self._result(response)

    def fetch_status(self, account, provider_message_id, client):
        if not self.supports_status_fetch:
            return None
        try:
            response = client.get(f"{account.base_url('http://invalid')}/messages/{provider_message_id}")
        except httpx.HTTPError as exc:
            raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, text=str(exc)) from exc
        if response.status_code != 200:
            return None
        data = response.json()
        neutral = {"delivered": "delivered", "undelivered": "undelivered", "sent": "sent"}.get(data["status"])
        return StatusReport(
            provider_message_id=provider_message_id,
            provider_status=data["status"],
            status=neutral,
            failure_reason=failures.UNREACHABLE_DESTINATION if neutral == "undelivered" else "",
        )


KINDS = {
    "fake": FakeProvider("fake"),
    "fake_idem": FakeProvider("fake_idem", supports_idempotency=True),
    "fake_lookup": FakeProvider("fake_lookup", supports_lookup=True),
    "fake_fetch": FakeProvider("fake_fetch", supports_status_fetch=True),
}


def register(modules: dict) -> list[str]:
    """Expose each fake kind as a module with a PROVIDER, as textdesk.providers.registry expects."""
    added = []
    for kind, provider in KINDS.items():
        name = f"textdesk_test_provider_{kind}"
        module = types.ModuleType(name)
        module.PROVIDER = provider
        sys.modules[name] = module
        modules[kind] = name
        added.append(kind)
    return added
