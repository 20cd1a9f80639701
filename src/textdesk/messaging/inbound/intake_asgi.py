"""Provider webhooks as a plain ASGI application (the hot path; Django's request stack is skipped).

``/webhooks/{key}/inbound`` and ``/webhooks/{key}/status``: read the body (bounded),
find the provider account by its key, let its adapter verify the signature and
parse, store with one durable write (on PostgreSQL, a webhook's one message is
written from the event loop, see ``intake_pg``), then answer what the provider expects.

Every refusal is a precise 4xx with a JSON reason and stores nothing. Anything
unexpected is logged and answered 503, so the provider retries and nothing is
lost: the acknowledgement is sent only after the commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from textdesk.providers.base import AccountConfig, WebhookRejected, WebhookRequest, WebhookResponse

log = logging.getLogger(__name__)

ACCOUNT_CACHE_SECONDS = 5.0
ROUTES = {"inbound": "inbound_key", "status": "status_key"}
DEFAULT_ACK = WebhookResponse(200, "text/plain", b"")


@dataclass(frozen=True)
class CachedAccount:
    id: int
    kind: str
    config: AccountConfig


class _AccountCache:
    """Accounts by webhook key, kept a few seconds so a burst of webhooks costs one lookup."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, CachedAccount]] = {}

    def get(self, route: str, key: str) -> CachedAccount | None:
        with self._lock:
            entry = self._entries.get((route, key))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, route: str, key: str, account: CachedAccount) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[(route, key)] = (time.monotonic() + self.ttl, account)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


account_cache = _AccountCache(ACCOUNT_CACHE_SECONDS)

# A bounded set of threads does the database work, so the number of connections is bounded too (and, with
# PostgreSQL's pool, each borrows one only while it stores a webhook).
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _db_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                size = getattr(settings, "WEBHOOK_DB_THREADS", 8)
                _executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="textdesk-webhook-db")
    return _executor


def _release_connections() -> None:
    """After a request: close a connection that failed or outlived CONN_MAX_AGE; keep a healthy one. With
    PostgreSQL's pool CONN_MAX_AGE is 0: every connection goes back to the pool when its webhook is stored.

    Unlike ``close_old_connections`` this does not schedule a health-check query before the next
    request: a connection that broke while idle fails that request with a 503 (the provider retries),
    is closed here, and the retry gets a fresh one. That keeps the webhook at one round trip.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        expired = conn.close_at is not None and time.monotonic() >= conn.close_at
        if conn.errors_occurred or expired or not conn.get_autocommit():
            conn.close_if_unusable_or_obsolete()


def _with_connection(fn, *args):
    """Run ``fn`` in a database thread and tidy its connection afterwards."""
    try:
        return fn(*args)
    finally:
        _release_connections()


async def _in_db_thread(fn, *args):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_db_executor(), _with_connection, fn, *args)


def _load_account(route: str, key: str) -> CachedAccount | None:
    from textdesk.messaging.models import ProviderAccount

    account = ProviderAccount.objects.filter(**{ROUTES[route]: key}).first()
    if account is None:
        return None
    return CachedAccount(id=account.pk, kind=account.kind, config=account.config())


async def _account(route: str, key: str) -> CachedAccount | None:
    cached = account_cache.get(route, key)
    if cached is not None:
        return cached
    account = await _in_db_thread(_load_account, route, key)
    if account is not None:
        account_cache.put(route, key, account)
    return account


# ---------------------------------------------------------------- HTTP plumbing


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


async def _read_body(receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send, response: WebhookResponse) -> None:
    headers = [(b"content-length", str(len(response.body)).encode())]
    if response.body or response.status != 204:
        headers.append((b"content-type", response.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body if response.status != 204 else b""})


def _error(status: int, reason: str) -> WebhookResponse:
    return WebhookResponse(status, "application/json", json.dumps({"error": reason}).encode())


def _public_url(scope) -> str:
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return settings.PUBLIC_URL + path + (f"?{query}" if query else "")


def _headers(scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _route(path: str) -> tuple[str, str] | None:
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "webhooks" or parts[2] not in ROUTES or not parts[1]:
        return None
    return parts[2], parts[1]


# ---------------------------------------------------------------- the application


async def webhook_app(scope, receive, send) -> None:
    try:
        response = await _handle(scope, receive)
    except _ClientGone:
        return
    except Exception:  # never a 500: the provider retries a 503, and nothing was committed
        log.exception("webhook %s failed", scope.get("path"))
        response = _error(503, "temporarily unavailable, please retry")
    await _respond(send, response)


async def _handle(scope, receive) -> WebhookResponse:
    from textdesk.messaging import carriers
    from textdesk.messaging.inbound import intake, intake_pg
    from textdesk.providers import _callback_access
    from textdesk.providers.registry import get_provider

    route = _route(scope["path"])
    if route is None:
        return _error(404, "no such webhook")
    route_name, key = route
    method = scope.get("method", "GET").upper()
    if method not in ("POST", "GET"):
        return _error(405, f"method {method} not allowed")
    headers = _headers(scope)
    limit = settings.WEBHOOK_MAX_BYTES
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _error(413, f"body larger than {limit} bytes")

    account = await _account(route_name, key)
    if account is None:
        return _error(404, "unknown webhook key")
    try:
        body = await _read_body(receive, limit)
    except _BodyTooLarge:
        return _error(413, f"body larger than {limit} bytes")

    received_at = dt.datetime.now(dt.UTC)
    client = scope.get("client")
    request = WebhookRequest(
        method=method,
        url=_public_url(scope),
        headers=headers,
        body=body,
        received_at=received_at,
        peer=str(client[0]) if client else "",
    )
    provider = get_provider(account.kind)
    try:
        # The account's own guards (source addresses, Basic credentials) first: an unsigned provider's only ones.
        _callback_access.check(account.config, request)
        provider.verify(account.config, request, received_at)
        if route_name == "inbound":
            parsed = provider.parse_inbound(account.config, request)
        else:
            parsed = provider.parse_status(account.config, request)
    except WebhookRejected as rejected:
        return _error(rejected.status, rejected.reason)

    parsed = intake.made_storable(parsed, account.id)  # a signed "poison" webhook is kept, never retried forever
    try:
        if intake_pg.handles(parsed):
            await intake_pg.store_single(account.id, parsed.inbound[0])
        elif parsed.inbound or parsed.statuses:
            await _in_db_thread(intake.store_parsed, account.id, list(parsed.inbound), list(parsed.statuses))
        if any(sms.carrier for sms in parsed.inbound):
            await _in_db_thread(carriers.remember, account.id, list(parsed.inbound))
    except intake.InvalidInbound as invalid:
        return _error(400, str(invalid))
    return parsed.response or getattr(provider, "default_response", None) or DEFAULT_ACK
