"""Many live streams on one served web process (``textdesk serve``, PostgreSQL and Redis): every stream gets its
seller's events, and the process's threads and Redis and PostgreSQL connections do not grow with the streams
(one Redis subscription per process fanned out in-process; no thread or connection held by an idle stream)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from urllib.parse import urlparse

import httpx
import pytest
from bench.process_resources import process_resources

from tests.live.conftest import REDIS_URL, SRC, database_url, redis_reachable, wait_for

SELLERS, TABS, FEW = 100, 2, 20  # 200 streams; the baseline is taken with FEW of them open


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(transactional_db, tmp_path):
    """``textdesk serve`` (one web process) on the test database and Redis; yields (process, base URL, prefix)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("this test measures a served process on PostgreSQL")
    if not redis_reachable():
        pytest.skip("no Redis on 127.0.0.1")
    port, prefix = _free_port(), f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "DJANGO_SETTINGS_MODULE": "textdesk.settings",
        "TEXTDESK_DATABASE_URL": database_url(),
        "TEXTDESK_REDIS_URL": REDIS_URL,
        "TEXTDESK_BUS_PREFIX": prefix,
        "TEXTDESK_DATA_DIR": str(tmp_path),
        "TEXTDESK_LOG_LEVEL": "WARNING",
    }
    log = open(tmp_path / "web.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "textdesk.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(answers, timeout=30), (tmp_path / "web.log").read_text()
        yield process, url, prefix
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _signed_in_sessions(make_user, settings) -> list[tuple[int, str]]:
    from django.test import Client

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a session, not a hash, is tested
    sessions = []
    for i in range(SELLERS):
        seller = make_user(f"streamer{i}")
        browser = Client()
        browser.force_login(seller)
        sessions.append((seller.pk, browser.cookies[settings.SESSION_COOKIE_NAME].value))
    return sessions


async def _open(http: httpx.AsyncClient, cookie_name: str, session_key: str, received: list, stack) -> asyncio.Task:
    response = await stack.enter_async_context(
        http.stream("GET", "/live/events", headers={"Cookie": f"{cookie_name}={session_key}"})
    )
    assert response.status_code == 200
    lines = response.aiter_lines()
    async for line in lines:
        if line == ": connected":
            break

    async def read() -> None:
        async for line in lines:
            if line.startswith("data:"):
                received.append(json.loads(line[5:]))

    return asyncio.create_task(read())


def test_two_hundred_streams_get_their_events_without_threads_or_connections_per_stream(served, make_user, settings):
    from contextlib import AsyncExitStack

    from textdesk.live import events, sse
    from textdesk.live.bus import RedisBus

    process, url, prefix = served
    sessions = _signed_in_sessions(make_user, settings)
    tabs = [sessions[i % SELLERS] for i in range(SELLERS * TABS)]
    redis_port = urlparse(REDIS_URL).port or 6379
    postgres_port = int(settings.DATABASES["default"]["PORT"] or 5432)

    def held() -> dict[str, int]:
        return process_resources(process.pid, redis_port=redis_port, postgres_port=postgres_port)

    async def scenario():
        received = [[] for _ in tabs]
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http, AsyncExitStack() as stack:
            readers = []
            for i in range(FEW):
                readers.append(await _open(http, settings.SESSION_COOKIE_NAME, tabs[i][1], received[i], stack))
            await asyncio.sleep(0.5)
            baseline = held()
            readers += await asyncio.gather(
                *(
                    _open(http, settings.SESSION_COOKIE_NAME, tabs[i][1], received[i], stack)
                    for i in range(FEW, len(tabs))
                )
            )
            await asyncio.sleep(0.5)
            full = held()

            # Published from this process through Redis, like a worker does: one event per seller.
            publisher = RedisBus(REDIS_URL)
            for user_id, _ in sessions:
                publisher.publish(f"{prefix}:user:{user_id}", events.message_new(conversation_id=1, message_id=user_id))

            async def everyone_heard() -> bool:
                for _ in range(200):
                    if all(received):
                        return True
                    await asyncio.sleep(0.05)
                return False

            assert await everyone_heard(), f"{sum(1 for r in received if not r)} streams got nothing"
            after = held()
            for task in readers:
                task.cancel()
            return received, baseline, full, after

    received, baseline, full, after = asyncio.run(scenario())
    for (user_id, _), got in zip(tabs, received):
        assert [e["message_id"] for e in got if e["event"] == "message.new"] == [user_id]
    # 180 more streams: no thread beyond the stream start's small fixed pool, no Redis connection, and no database
    # connection while idle (at most one per start thread while streams are being opened).
    assert full["threads"] <= baseline["threads"] + sse.START_THREADS, (baseline, full)
    assert full["redis"] <= baseline["redis"], (baseline, full)
    assert after["redis"] <= baseline["redis"], (baseline, after)
    assert full["postgres"] <= max(baseline["postgres"], sse.START_THREADS), (baseline, full)
    assert after["threads"] <= baseline["threads"] + sse.START_THREADS, (baseline, after)
