"""Helpers for the outage tests: real worker processes reaching PostgreSQL and Redis through cuttable proxies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from bench.faultproxy import TcpProxy

REDIS_URL = os.environ.get("TEXTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SRC = Path(__file__).resolve().parents[2] / "src"


def redis_reachable() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False
    return True


@pytest.fixture
def redis_proxy():
    if not redis_reachable():
        pytest.skip("no Redis on 127.0.0.1")
    from urllib.parse import urlparse

    parsed = urlparse(REDIS_URL)
    proxy = TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def postgres_proxy(transactional_db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL outage needs PostgreSQL")
    params = connection.settings_dict
    proxy = TcpProxy(params["HOST"] or "127.0.0.1", int(params["PORT"] or 5432)).start()
    yield proxy
    proxy.stop()


def database_url(via_port: int | None = None) -> str:
    """The test database's URL (through the proxy listening on ``via_port``, if given)."""
    from django.db import connection

    params = connection.settings_dict
    host = params["HOST"] or "127.0.0.1"
    port = via_port or params["PORT"] or 5432
    auth = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{port}/{params['NAME']}"


class TextdeskProcess:
    """A ``textdesk`` command in a process of its own, its output in a file."""

    def __init__(self, args: list[str], env: dict, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "textdesk.cli", *args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


class WorkerProcess(TextdeskProcess):
    """``textdesk worker`` in a process of its own, its log in a file."""

    def __init__(self, name: str, env: dict, log_dir: Path) -> None:
        self.name = name
        super().__init__(["worker", "--name", name], env, log_dir / f"{name}.log")


@pytest.fixture
def start_worker(tmp_path):
    started: list[WorkerProcess] = []

    def start(database: str, redis: str = "") -> WorkerProcess:
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "DJANGO_SETTINGS_MODULE": "textdesk.settings",
            "TEXTDESK_DATABASE_URL": database,
            "TEXTDESK_REDIS_URL": redis,
            "TEXTDESK_BUS_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
            "TEXTDESK_DATA_DIR": str(tmp_path),
            "TEXTDESK_LOG_LEVEL": "INFO",
        }
        worker = WorkerProcess(f"outage-{uuid.uuid4().hex[:6]}", env, tmp_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
