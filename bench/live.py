"""Live-update benchmark: thousands of open event streams on one web process, events pushed through Redis.

    python bench/live.py                          # 2,000 streams (1,000 sellers, 2 tabs each), 200 msg/s, 20 s
    python bench/live.py --quick                  # 2,000 streams, 200 msg/s, 5 s
    python bench/live.py --streams 4000 --rate 500

What it does, and prints (figures only; nothing is asserted):
1. creates sellers in a PostgreSQL database of its own; one signs in over HTTP like a browser, the others get a
   signed-in session the way the login view stores one (signing in thousands of users over HTTP would time the
   password hasher, not live updates);
2. starts TextDesk as deployed: ``textdesk serve`` (one web process), Redis for the events;
3. opens the streams (``GET /live/events``, each seller in ``--tabs`` tabs) from one asynchronous client and
   reports the web process's threads, Redis connections and PostgreSQL connections with a few streams and with
   all of them open (idle);
4. a separate process publishes ``message.new`` events through the project's own bus (``textdesk.live.bus``, so
   through Redis) at a steady rate, each to one seller in turn; every stream records when each event of its
   seller arrives. Push latency: from just before the publish to the arrival of the event's last byte at the
   stream, for every (event, stream) pair; events that never arrive are counted.
It ends with one line:
    live: <n> streams per process, push p99 <ms> at <rate> msg/s
Needs: PostgreSQL and Redis on 127.0.0.1 (``TEXTDESK_BENCH_REDIS_URL`` picks another Redis database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from inbound import BIN, PG_ADMIN, django_setup, log, pct, start, stop, wait_http  # noqa: E402
from process_resources import describe, process_resources  # noqa: E402

PASSWORD = "bench-Live-Passw0rd!"
REDIS_URL = os.environ.get("TEXTDESK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (each stream is a socket on both ends)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- sellers and their sessions


def seed_sellers(count: int) -> list[tuple[int, str]]:
    """``count`` sellers, each with a signed-in session: [(user id, session key)]. Seller 0 has a password and
    signs in over HTTP later (its session replaces the one made here)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from textdesk.org.models import User

    group = Group.objects.get(name="Salesperson")
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"live-seller-{i}", password="!unusable") for i in range(count)]
        )  # fmt: skip
        User.groups.through.objects.bulk_create([User.groups.through(user_id=u.pk, group_id=group.pk) for u in users])
        users[0].set_password(PASSWORD)
        users[0].save(update_fields=["password"])
    sessions = []
    from django.conf import settings

    backend = settings.AUTHENTICATION_BACKENDS[0]
    for user in users:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = backend
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append((user.pk, store.session_key))
    return sessions


def login_over_http(port: int, username: str) -> str:
    """Sign in like a browser (login page, CSRF token, form post); returns the session cookie's value."""
    import http.client
    import urllib.parse

    from django.conf import settings

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    cookies: dict[str, str] = {}

    def request(method: str, path: str, body: str | None = None, headers: dict | None = None) -> int:
        headers = dict(headers or {})
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            cookies[name] = rest.split(";", 1)[0]
        return response.status

    request("GET", "/login/")
    form = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": cookies["csrftoken"]}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://127.0.0.1:{port}/"}
    status = request("POST", "/login/", form, headers)
    conn.close()
    if status != 302:
        raise RuntimeError(f"login answered {status}")
    return cookies[settings.SESSION_COOKIE_NAME]


# ---------------------------------------------------------------- the streams


class Streams:
    """Many open ``/live/events`` streams from one event loop; each records (message id, arrival time)."""

    def __init__(self, port: int, cookie_name: str) -> None:
        self.url = f"http://127.0.0.1:{port}/live/events"
        self.cookie_name = cookie_name
        self.opened = 0
        self.failed: list[str] = []
        self.arrivals: list[list[tuple[int, float]]] = []
        self.owners: list[int] = []
        self.tasks: list[asyncio.Task] = []
        self._session = None

    async def __aenter__(self) -> Streams:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=None)
        )
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._session.close()

    async def open(self, sessions: list[tuple[int, str]], parallel: int = 50) -> None:
        """Open one stream per entry of ``sessions`` (``parallel`` at a time); returns when all are open."""
        gate = asyncio.Semaphore(parallel)
        ready = []
        for user_id, session_key in sessions:
            index = len(self.arrivals)
            self.arrivals.append([])
            self.owners.append(user_id)
            opened = asyncio.get_running_loop().create_future()
            ready.append(opened)
            self.tasks.append(asyncio.create_task(self._stream(index, session_key, gate, opened)))
        await asyncio.gather(*ready)

    async def _stream(self, index: int, session_key: str, gate: asyncio.Semaphore, opened: asyncio.Future) -> None:
        arrivals = self.arrivals[index]
        try:
            async with gate:
                response = await self._session.get(self.url, headers={"Cookie": f"{self.cookie_name}={session_key}"})
                if response.status != 200:
                    raise RuntimeError(f"answered {response.status}")
                await response.content.readuntil(b": connected\n\n")
            self.opened += 1
            opened.set_result(True)
            async for line in response.content:
                if line.startswith(b"data:"):
                    now = time.time()
                    data = json.loads(line[5:])
                    if data.get("event") == "message.new":
                        arrivals.append((data["message_id"], now))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failed.append(f"{type(error).__name__}: {error}")
            if not opened.done():
                opened.set_result(False)


# ---------------------------------------------------------------- publishing (a process of its own)


def publish(env: dict, plan_path: Path, out_path: Path) -> None:
    """Publish one ``message.new`` per entry of the plan at its rate; write each event's publish time."""
    django_setup(env)
    from textdesk.live import bus, events

    plan = json.loads(plan_path.read_text())
    rate, users = plan["rate"], plan["users"]
    live = bus.get_bus()
    live.publish(bus.user_channel(users[0]), events.notification_read(0))  # the connection is open before timing
    sent = []
    began = time.perf_counter() + 0.2
    for k, user_id in enumerate(users):
        delay = began + k / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        at = time.time()
        live.publish(bus.user_channel(user_id), events.message_new(conversation_id=1, message_id=k))
        sent.append(at)
    out_path.write_text(json.dumps({"sent": sent, "seconds": time.perf_counter() - began}))


# ---------------------------------------------------------------- the run


def run(args) -> None:
    import psycopg

    limit = raise_fd_limit()
    if limit < args.streams + 200:
        log(f"warning: the open-file limit is {limit}; {args.streams} streams need more (raise the hard limit)")
    work = Path(tempfile.mkdtemp(prefix="textdesk-live-"))
    db_url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    env = dict(
        os.environ,
        TEXTDESK_DATABASE_URL=db_url,
        TEXTDESK_DATA_DIR=str(work / "data"),
        TEXTDESK_SECRET_KEY="bench-secret-key",
        TEXTDESK_REDIS_URL=REDIS_URL,
        TEXTDESK_BUS_PREFIX=f"bench-live-{uuid.uuid4().hex[:8]}",
        TEXTDESK_LOG_LEVEL="WARNING",
        TEXTDESK_ALLOWED_HOSTS="*",
        DJANGO_SETTINGS_MODULE="textdesk.settings",
    )
    try:
        subprocess.run([str(BIN / "textdesk"), "migrate", "-v0"], env=env, check=True)
        django_setup(env)
        sellers = max(1, args.streams // args.tabs)
        started = time.perf_counter()
        sessions = seed_sellers(sellers)
        from django.conf import settings
        from django.db import connection

        connection.close()
        log(f"  {sellers:,} sellers with a signed-in session ({time.perf_counter() - started:.1f}s)")
        port = free_port()
        web = start(
            [str(BIN / "textdesk"), "serve", "--port", str(port), "--workers", "1"], env, work / "web.log"
        )  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            sessions[0] = (sessions[0][0], login_over_http(port, "live-seller-0"))
            tabs = [sessions[i % sellers] for i in range(args.streams)]
            asyncio.run(measure(args, env, work, web.pid, port, settings.SESSION_COOKIE_NAME, tabs))
        finally:
            stop(web)
            if args.verbose:
                log((work / "web.log").read_text()[-3000:])
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


async def measure(args, env: dict, work: Path, pid: int, port: int, cookie_name: str, tabs: list) -> None:
    async with Streams(port, cookie_name) as streams:
        few = min(20, len(tabs))
        await streams.open(tabs[:few])
        await asyncio.sleep(1.0)
        baseline = process_resources(pid)
        log(f"  web process with {few} streams open: {describe(baseline)}")
        started = time.perf_counter()
        await streams.open(tabs[few:], parallel=args.parallel)
        opening = time.perf_counter() - started
        await asyncio.sleep(1.0)
        full = process_resources(pid)
        log(
            f"  web process with {streams.opened:,} streams open ({len(tabs) - few:,} opened in {opening:.1f}s, "
            f"{streams.failed and len(streams.failed) or 0} failed): {describe(full)}"
        )
        if streams.failed:
            log(f"  first failures: {streams.failed[:3]}")

        count = int(args.rate * args.duration)
        users = sorted(set(streams.owners))
        plan = {"rate": args.rate, "users": [users[k % len(users)] for k in range(count)]}
        plan_path, out_path = work / "plan.json", work / "published.json"
        plan_path.write_text(json.dumps(plan))
        log(f"  publishing {count:,} events at {args.rate:g} msg/s from another process ({args.duration:g}s)")
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--publisher", str(plan_path), str(out_path), env=env
        )
        await publisher.wait()
        if publisher.returncode:
            raise RuntimeError(f"the publisher failed ({publisher.returncode})")
        await asyncio.sleep(2.0)  # the last events' arrivals
        during = process_resources(pid)

    published = json.loads(out_path.read_text())
    sent = published["sent"]
    actual_rate = len(sent) / published["seconds"]
    tabs_of: dict[int, int] = {}
    for owner in streams.owners:
        tabs_of[owner] = tabs_of.get(owner, 0) + 1
    expected = sum(tabs_of.get(user_id, 0) for user_id in plan["users"])
    latencies = [(arrived - sent[k]) * 1000 for arrivals in streams.arrivals for k, arrived in arrivals]
    reached = sum(1 for arrivals in streams.arrivals if arrivals)
    log(
        f"  {len(latencies):,} of {expected:,} deliveries arrived ({expected - len(latencies):,} missing); "
        f"{reached:,} of {len(streams.arrivals):,} streams received events; published at {actual_rate:.0f} msg/s"
    )
    log(
        f"  push latency: p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, "
        f"max {max(latencies, default=float('nan')):.1f} ms"
    )
    log(f"  web process after publishing: {describe(during)}")
    log(f"\nlive: {streams.opened} streams per process, push p99 {pct(latencies, 99):.0f} ms at {args.rate:g} msg/s")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--publisher":
        publish(dict(os.environ), Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=2000, help="streams open on the one web process")
    parser.add_argument("--tabs", type=int, default=2, help="streams per seller (tabs)")
    parser.add_argument("--rate", type=float, default=200, help="events published per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds of publishing")
    parser.add_argument("--parallel", type=int, default=100, help="streams being opened at once")
    parser.add_argument("--quick", action="store_true", help="a shorter run: 200 msg/s for 5 s")
    parser.add_argument(
        "--database", default="textdesk_live", help="PostgreSQL database to drop and recreate (a name of your own)"
    )
    parser.add_argument("--verbose", action="store_true", help="print the end of the web server's log")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.duration = 200, 5  # still one event for every seller (1,000)
    log(f"== Live-update benchmark ({os.cpu_count()} cores; figures drift between runs, compare within one run)")
    run(args)


if __name__ == "__main__":
    main()
