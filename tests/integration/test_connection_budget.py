"""The PostgreSQL connection budget of each process, measured from the server's side (``pg_stat_activity``, sampled
from a connection of the test's own while the traffic flows).

- A web process served as in production (``textdesk serve``) holds at most its Django pool (``WEB_POOL_SIZE``) plus
  its webhooks' pool (``WEBHOOK_DB_THREADS``), through sequential and concurrent pages, API calls, webhooks and live
  streams; a request that finds every pooled connection busy for the pool's timeout answers 503, never 500.
- A worker (``textdesk worker --threads N``) holds at most N + 1 while it sends and runs jobs in its threads; and
  with a pool smaller than that its threads take turns, every job done on its first attempt.

Each process's Django connections are told apart by the ``application_name`` of its database URL; the webhooks'
pool names its own (``textdesk-webhook``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from django.db import connection

from tests.inbound.conftest import AUTH_TOKEN, twilio_form, twilio_signature
from tests.live.conftest import SRC, TextdeskProcess, database_url, wait_for
from textdesk import config
from textdesk.messaging.inbound.intake_pg import APPLICATION_NAME as WEBHOOK_SESSIONS

WEB_SESSIONS, WORKER_SESSIONS = "budget-web", "budget-worker"
SEQUENTIAL, CONCURRENT, STREAMS = 60, 40, 10
CUSTOMER = "+14155550199"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the connection budget is PostgreSQL's (SQLite has no server sessions)")


class SessionSampler:
    """The test database's server sessions by ``application_name``, counted every few milliseconds from a
    connection of its own: the most seen at once, per name and per group of names."""

    def __init__(self, groups: dict[str, tuple[str, ...]]) -> None:
        self.groups = groups
        self.peak: Counter = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-sampler", daemon=True)
        params = connection.settings_dict
        self._conn = psycopg.connect(
            host=params["HOST"] or "127.0.0.1",
            port=int(params["PORT"] or 5432),
            user=params["USER"],
            password=params["PASSWORD"] or None,
            dbname=params["NAME"],
            autocommit=True,
        )

    def count(self) -> Counter:
        rows = self._conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY application_name"
        ).fetchall()
        return Counter(dict(rows))

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.count()
            self.samples += 1
            for name, held in now.items():
                self.peak[name] = max(self.peak[name], held)
            for group, names in self.groups.items():
                self.peak[group] = max(self.peak[group], sum(now[name] for name in names))
            self._stop.wait(0.01)

    def __enter__(self) -> SessionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _labelled_database_url(application_name: str) -> str:
    return f"{database_url()}?application_name={application_name}"


def _environment(tmp_path, **extra: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "DJANGO_SETTINGS_MODULE": "textdesk.settings",
        "TEXTDESK_DATA_DIR": str(tmp_path),
        "TEXTDESK_REDIS_URL": "",
        "TEXTDESK_LOG_LEVEL": "WARNING",
        **extra,
    }
    for name in ("TEXTDESK_DB_POOL_SIZE", "TEXTDESK_DB_POOL_TIMEOUT"):
        if name not in extra:
            env.pop(name, None)  # the defaults are what is measured
    return env


@pytest.fixture
def serve(transactional_db, tmp_path, settings):
    """Starts ``textdesk serve`` (one web process) on the test database; returns its base URL. The test process's
    PUBLIC_URL becomes the server's, so that the webhook URLs it signs are the ones the server verifies."""
    from textdesk.messaging.inbound import intake_pg

    intake_pg.close_pools()  # this process's own webhook sessions, if a test server left any, would count
    started: list[TextdeskProcess] = []

    def start(**extra: str) -> str:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        settings.PUBLIC_URL = url
        env = _environment(
            tmp_path, TEXTDESK_DATABASE_URL=_labelled_database_url(WEB_SESSIONS), TEXTDESK_PUBLIC_URL=url, **extra
        )
        web = TextdeskProcess(["serve", "--port", str(port), "--workers", "1"], env, tmp_path / "web.log")
        started.append(web)

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
            except httpx.HTTPError:
                return False

        assert wait_for(answers, timeout=30), web.log()
        return url

    yield start
    for web in started:
        web.stop()


class Traffic:
    """What a sales team's browsers, an API client and a provider send to one web process."""

    def __init__(self, team: dict) -> None:
        self.browser = {"Cookie": "=".join(team["cookie"])}
        self.token = team["token"]
        self.account = team["account"]
        self.number = team["number"]
        self.sent_sid = team["sent_sid"]
        self.webhooks = 0

    def requests(self, record_pk: int, conversation_pk: int) -> list[tuple[str, str, dict]]:
        """(method, path, options) for one round: pages, API reads, an inbound and a status webhook."""
        api = {"headers": {"Authorization": f"Bearer {self.token}"}}
        page = {"headers": self.browser}
        return [
            ("GET", "/", page),
            ("GET", "/records/contact/", page),
            ("GET", f"/records/contact/{record_pk}/", page),
            ("GET", f"/conversations/{conversation_pk}/", page),
            ("GET", "/records/search/?q=Budget", page),
            ("GET", "/notifications/", page),
            ("GET", "/api/v1/contacts", api),
            ("GET", "/api/v1/conversations", api),
            ("GET", "/api/v1/messages", api),
            ("GET", "/api/v1/sender-numbers", api),
            self.inbound_webhook(),
            self.status_webhook(),
        ]

    def inbound_webhook(self) -> tuple[str, str, dict]:
        self.webhooks += 1
        form = twilio_form(f"SM{self.webhooks:032d}", CUSTOMER, self.number, f"webhook {self.webhooks}")
        return self._signed(self.account.inbound_url, form)

    def status_webhook(self) -> tuple[str, str, dict]:
        form = {"MessageSid": self.sent_sid, "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
        return self._signed(self.account.status_url, form)

    def _signed(self, public_url: str, form: dict) -> tuple[str, str, dict]:
        from urllib.parse import urlencode

        path = "/" + public_url.split("://", 1)[1].split("/", 1)[1]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(public_url, form),
        }
        return ("POST", path, {"content": urlencode(form).encode(), "headers": headers})


@pytest.fixture
def sales_team(make_user, make_provider_account, make_sender_number, make_record, settings):
    """A manager with a session and an API token, a number on a Twilio account, a contact with a conversation and
    a message the provider has accepted (its delivery report comes as a webhook)."""
    from django.test import Client

    from textdesk.messaging.models import Message
    from textdesk.messaging.outbound.send import send_message
    from textdesk.org.models import ApiToken
    from textdesk.org.roles import SALES_MANAGER

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    manager = make_user("budget-manager", role=SALES_MANAGER)
    account = make_provider_account(credentials={"account_sid": "AC" + "1" * 32, "auth_token": AUTH_TOKEN})
    number = make_sender_number(e164="+14155550100", owner=manager, provider_account=account)
    contact = make_record("contact", manager, first_name="Budget", mobile_phone=CUSTOMER)
    sent = send_message(user=manager, record=contact, sender_number=number, to_number=CUSTOMER, body="Hello")
    sent_sid = "SM" + "9" * 32
    Message.objects.filter(pk=sent.pk).update(status="sent", provider_message_id=sent_sid)
    browser = Client()
    browser.force_login(manager)
    _token_row, token = ApiToken.issue(manager)
    return {
        "cookie": (settings.SESSION_COOKIE_NAME, browser.cookies[settings.SESSION_COOKIE_NAME].value),
        "token": token,
        "account": account,
        "number": number.e164,
        "sent_sid": sent_sid,
        "conversation": sent.conversation_id,
        "contact": contact.pk,
    }


async def _open_stream(http: httpx.AsyncClient, browser: dict, stack) -> None:
    response = await stack.enter_async_context(http.stream("GET", "/live/events", headers=browser))
    assert response.status_code == 200
    async for line in response.aiter_lines():
        if line == ": connected":
            return


def test_a_web_process_stays_within_its_connection_budget(serve, sales_team, settings):
    from contextlib import AsyncExitStack

    url = serve()
    traffic = Traffic(sales_team)
    record_pk, conversation_pk = sales_team["contact"], sales_team["conversation"]
    web_budget = config.WEB_POOL_SIZE + settings.WEBHOOK_DB_THREADS
    statuses: Counter = Counter()

    def send(http: httpx.Client, request: tuple[str, str, dict]) -> None:
        method, path, options = request
        statuses[http.request(method, path, **options).status_code] += 1

    async def concurrently() -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http, AsyncExitStack() as stack:
            # Live streams stay open while the requests run (a stream borrows a connection to start, then holds none).
            await asyncio.gather(*(_open_stream(http, traffic.browser, stack) for _ in range(STREAMS)))
            batch = []
            while len(batch) < CONCURRENT:
                batch += traffic.requests(record_pk, conversation_pk)
            answers = await asyncio.gather(
                *(http.request(method, path, **options) for method, path, options in batch[:CONCURRENT])
            )
            for answer in answers:
                statuses[answer.status_code] += 1

    groups = {"web": (WEB_SESSIONS, WEBHOOK_SESSIONS)}
    with SessionSampler(groups) as sampler:
        with httpx.Client(base_url=url, timeout=30) as http:
            sequential = []
            while len(sequential) < SEQUENTIAL:
                sequential += traffic.requests(record_pk, conversation_pk)
            for request in sequential[:SEQUENTIAL]:
                send(http, request)
        after_sequential = sampler.peak.copy()
        asyncio.run(concurrently())
        time.sleep(0.2)
    print(
        f"\nbudget: web process: {sampler.peak['web']} sessions at most (Django pool {sampler.peak[WEB_SESSIONS]}, "
        f"webhooks' pool {sampler.peak[WEBHOOK_SESSIONS]}; after {SEQUENTIAL} sequential requests "
        f"{after_sequential['web']}) of a budget of {web_budget}; {sampler.samples} samples; answers {dict(statuses)}"
    )
    assert sampler.samples > 50
    assert sum(statuses.values()) == SEQUENTIAL + CONCURRENT
    assert all(status < 500 for status in statuses), statuses
    assert sampler.peak[WEB_SESSIONS] <= config.WEB_POOL_SIZE, sampler.peak
    assert sampler.peak[WEBHOOK_SESSIONS] <= settings.WEBHOOK_DB_THREADS, sampler.peak
    assert sampler.peak["web"] <= web_budget, sampler.peak
    assert sampler.peak[WEBHOOK_SESSIONS] >= 1  # the webhooks did take their own path


def test_a_request_that_finds_no_free_connection_answers_503_not_500(serve, sales_team):
    """One pooled connection, held by a request that waits for a lock: the next page and API call wait for the
    pool's timeout (1 s here) and answer 503 with Retry-After; the held request completes once the lock goes."""
    from textdesk.errors import DATABASE_RETRY_AFTER

    url = serve(TEXTDESK_DB_POOL_SIZE="1", TEXTDESK_DB_POOL_TIMEOUT="1")
    browser = {"Cookie": "=".join(sales_team["cookie"])}
    params = connection.settings_dict
    with (
        psycopg.connect(
            host=params["HOST"] or "127.0.0.1",
            port=int(params["PORT"] or 5432),
            user=params["USER"],
            password=params["PASSWORD"] or None,
            dbname=params["NAME"],
        ) as locker,
        ThreadPoolExecutor(1) as background,
    ):
        locker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
        held = background.submit(httpx.get, f"{url}/records/contact/", headers=browser, timeout=30)

        def waits_for_the_lock() -> bool:
            row = locker.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = %s AND wait_event_type = 'Lock'",
                [WEB_SESSIONS],
            ).fetchone()
            return bool(row and row[0])

        assert wait_for(waits_for_the_lock, timeout=10), "the first request never waited for the lock"
        page = httpx.get(f"{url}/records/contact/", headers=browser, timeout=30)
        api = httpx.get(
            f"{url}/api/v1/contacts", headers={"Authorization": f"Bearer {sales_team['token']}"}, timeout=30
        )
        locker.rollback()  # the lock goes
        assert held.result(timeout=30).status_code == 200
    assert page.status_code == 503 and page.headers["retry-after"] == str(DATABASE_RETRY_AFTER), page.text
    assert api.status_code == 503 and api.json()["code"] == "unavailable", api.text


@pytest.fixture
def simulator():
    from textdesk.simulator import server as simulator_server

    handle = simulator_server.start_in_thread("127.0.0.1", 0)
    # Its delivery reports would go to a web process this test does not run: none within the test.
    handle.state.configure({"post_queued": False, "callback_delays": [600, 600]})
    yield handle
    handle.stop()


@pytest.fixture
def work(transactional_db, simulator, make_user, make_provider_account, make_sender_number, make_record):
    """Queued work for a worker: texts from four numbers (through the send pipeline) and sequence steps (jobs
    of their own, run in the worker's threads: each one a lane). Returns a function that tells what is done."""
    from textdesk.jobs import queue
    from textdesk.jobs.models import Job, JobState
    from textdesk.messaging.models import Message
    from textdesk.messaging.outbound.send import send_message
    from textdesk.sequences.actions import RUN_STEP_JOB

    sid, token = "AC" + "7" * 32, "budget-simulator-token"
    seller = make_user("budget-seller")
    account = make_provider_account(
        kind="twilio", options={"base_url": simulator.url}, credentials={"account_sid": sid, "auth_token": token}
    )
    numbers = []
    for i in range(4):
        number = make_sender_number(f"+1415555020{i}", owner=seller, provider_account=account, rate_per_second=1000)
        simulator.state.add_number({"number": number.e164, "account_sid": sid, "auth_token": token})
        numbers.append(number)
    contact = make_record("contact", seller, mobile_phone="+5511912345678", country="BR")
    for i in range(40):
        send_message(
            user=seller, record=contact, sender_number=numbers[i % 4], to_number="+5511912345678", body=f"text {i}"
        )
    # Steps of connections that have moved on (a step run twice, a contact taken out): each is looked up under a
    # row lock and found stale, in the worker's threads.
    for i in range(60):
        queue.enqueue(RUN_STEP_JOB, {"connection_id": 10**9 + i, "step_id": 1, "attempt": 1})

    def progress() -> dict[str, int]:
        steps = Job.objects.filter(kind=RUN_STEP_JOB)
        return {
            "sent": Message.objects.filter(direction="outbound").exclude(provider_message_id=None).count(),
            "steps_done": steps.filter(state=JobState.DONE).count(),
            "steps_retried": steps.filter(attempts__gt=1).count(),
            "steps_failed": steps.filter(state=JobState.FAILED).count(),
        }

    return progress


def _run_worker(tmp_path, progress, threads: int, **extra: str) -> tuple[SessionSampler, dict, str]:
    env = _environment(tmp_path, TEXTDESK_DATABASE_URL=_labelled_database_url(WORKER_SESSIONS), **extra)
    with SessionSampler({}) as sampler:
        worker = TextdeskProcess(["worker", "--threads", str(threads)], env, tmp_path / "worker.log")
        try:
            finished = wait_for(lambda: progress()["sent"] == 40 and progress()["steps_done"] == 60, timeout=60)
            time.sleep(0.3)  # the worker's passes after the work: still within the budget
        finally:
            worker.stop()
    assert finished, (progress(), worker.log())
    return sampler, progress(), worker.log()


def test_a_worker_stays_within_its_threads_plus_one(tmp_path, work):
    threads = 4
    sampler, done, log = _run_worker(tmp_path, work, threads)
    print(
        f"\nbudget: worker --threads {threads}: {sampler.peak[WORKER_SESSIONS]} sessions at most of a budget of "
        f"{threads + 1}; {sampler.samples} samples; {done}"
    )
    assert done["steps_failed"] == 0 and done["steps_retried"] == 0, (done, log)
    assert sampler.peak[WORKER_SESSIONS] >= 2  # its threads did use connections of their own
    assert sampler.peak[WORKER_SESSIONS] <= threads + 1, sampler.peak


def test_a_worker_with_a_smaller_pool_than_its_threads_takes_turns(tmp_path, work):
    """Four threads and two pooled connections: each thread hands its connection back after its lane, so the
    others get one within the pool's timeout; every job is done on its first attempt."""
    sampler, done, log = _run_worker(tmp_path, work, threads=4, TEXTDESK_DB_POOL_SIZE="2")
    assert done["steps_failed"] == 0 and done["steps_retried"] == 0, (done, log)
    assert sampler.peak[WORKER_SESSIONS] <= 2, sampler.peak
