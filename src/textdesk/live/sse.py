"""Server-sent events: ``GET /live/events`` streams the signed-in user's live events.

Plain ASGI (no Django request stack) because the connection stays open for hours.
The Django session cookie identifies the user (looked up in a thread, since the
session store and the ORM are synchronous; the database connection is closed
again before the stream starts). Events come from the user's channel on
:mod:`textdesk.live.bus`, whose one subscription per process hands them to this
stream's event loop: an open stream costs a queue and a task (some 20 KB), not a
thread, a Redis connection or a database connection. The blocking steps of a
stream's start and end run on a small pool of its own (``START_THREADS``), which
also bounds the database connections that streams starting together open.
A comment line every ``KEEPALIVE_SECONDS`` keeps proxies from closing an idle
stream. The stream ends when the client goes away. While the bus cannot deliver
(Redis unreachable) the stream stays open and says so (``live.state``
``degraded``): the page then refreshes itself periodically.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie

from textdesk.live import bus
from textdesk.live import events as live_events

KEEPALIVE_SECONDS = 15.0
START_THREADS = 4
_blocking = ThreadPoolExecutor(max_workers=START_THREADS, thread_name_prefix="textdesk-live")


async def _in_thread(function, *args):
    return await asyncio.get_running_loop().run_in_executor(_blocking, function, *args)


def _cookie(scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is just "not signed in"
                return None
            if name in jar:
                return jar[name].value
    return None


def user_id_for_session(session_key: str | None) -> int | None:
    """The active user of a Django session, or None (checks the session's auth hash like Django does)."""
    if not session_key:
        return None

    from django.conf import settings
    from django.contrib.auth import get_user
    from django.db import close_old_connections, connection
    from django.http import HttpRequest
    from django.utils.module_loading import import_string

    close_old_connections()
    try:
        store = import_string(settings.SESSION_ENGINE + ".SessionStore")(session_key)
        request = HttpRequest()  # get_user reads the session only
        request.session = store
        user = get_user(request)
        if not user.is_authenticated or not user.is_active:
            return None
        return user.pk
    finally:
        connection.close()


async def _respond(send, status: int, text: str) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain; charset=utf-8")]}
    )
    await send({"type": "http.response.body", "body": text.encode()})


def format_event(data: dict) -> bytes:
    name = str(data.get("event") or "message").replace("\n", " ")
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def sse_app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    if scope.get("method") not in ("GET", "HEAD"):
        await _respond(send, 405, "Method not allowed")
        return
    from django.conf import settings
    from django.db import DatabaseError

    try:
        user_id = await _in_thread(user_id_for_session, _cookie(scope, settings.SESSION_COOKIE_NAME))
    except DatabaseError:  # the browser's EventSource tries again (and the page refreshes itself meanwhile)
        await _respond(send, 503, "Live updates are unavailable for a moment")
        return
    if user_id is None:
        await _respond(send, 403, "Sign in first")
        return

    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def deliver(channel: str, data: dict) -> None:
        # Called from the bus's reading thread (or a publishing thread): hand the event to this stream's loop.
        loop.call_soon_threadsafe(events.put_nowait, data)

    live = bus.get_bus()
    # Subscribing waits for Redis to confirm (at most a second; not at all when Redis is unreachable): a thread,
    # briefly, so that the event loop keeps serving the other streams meanwhile.
    stop_listening = await _in_thread(live.listen, [bus.user_channel(user_id)], deliver, True)

    async def wait_disconnect() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    disconnected = asyncio.create_task(wait_disconnect())
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache, no-store"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        opening = b"retry: 3000\n: connected\n\n"
        if not live.connected:  # Redis is unreachable: the page refreshes itself until events flow again
            opening += format_event(live_events.bus_state(ok=False))
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        while not disconnected.done():
            getter = asyncio.ensure_future(events.get())
            done, _pending = await asyncio.wait(
                {getter, disconnected}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if getter in done:
                chunk = format_event(getter.result())
                while not events.empty():  # a burst goes out in one write
                    chunk += format_event(events.get_nowait())
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                continue
            getter.cancel()
            if disconnected.done():
                break
            await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
    except OSError:
        pass  # the client went away while we were writing
    finally:
        disconnected.cancel()
        # Unsubscribing may talk to Redis (or wait for the bus's lock while it reconnects): not on the event loop.
        try:
            loop.run_in_executor(_blocking, stop_listening)
        except RuntimeError:  # the server is shutting down and its executors with it
            stop_listening()
