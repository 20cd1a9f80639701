"""Fault run over the whole installation: kill -9 web and worker processes, cut PostgreSQL and Redis, while signed
inbound webhooks and outbound sends through the API flow; then count what was lost or doubled.

    TEXTDESK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/textdesk python bench/faults.py [--quick]

Starts the built-in simulator (Twilio wire format), a web server (`textdesk serve`) and workers (`textdesk worker`),
all reaching PostgreSQL and Redis through local TCP proxies (bench/tcp_cut_proxy.py). Meanwhile the web server and
the workers are killed with SIGKILL in turn and started again, PostgreSQL is cut for 5 s twice and Redis for 8 s
once. Webhooks are posted like a provider posts them: a webhook answered 5xx or not at all is sent again (after a
pause) until it is answered 2xx or 4xx, or its retry deadline passes. Then it waits for the workers to settle and
prints the details, then exactly one line:

    faults: inbound lost <n> doubled <n>, outbound lost <n> doubled <n>, worker restarts <n>, 5xx <n>

- inbound lost: webhooks never acknowledged within their retries, or acknowledged but not stored; doubled: a
  webhook's message stored more than once.
- outbound lost: sends the API answered 201 that never reached the simulator and are not shown to the seller as
  failed or of unknown outcome; doubled: those that reached it twice or more.
- worker restarts: worker processes killed and started again, plus worker loops restarted by their supervisor.
- 5xx: every 5xx answer of the API and the webhooks (503s during a cut included; the details line splits them).
It creates its own user, provider account and numbers in the database, and removes them afterwards.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


from outbound_faults import _free_port, _through  # noqa: E402  (bench/ is on the path from here on)


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's scheme: HMAC-SHA1 over the URL followed by each parameter's name and value, sorted by name."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class Processes:
    """The web server and the workers, each a `textdesk` process; any can be killed and started again."""

    def __init__(self, env: dict, workers: int, threads: int, web_port: int, logs: Path) -> None:
        self.env, self.threads, self.web_port, self.logs = env, threads, web_port, logs
        self.web_kills = self.worker_kills = 0
        self.web = self._web()
        self.workers = [self._worker(i) for i in range(workers)]

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "a")
        return subprocess.Popen([sys.executable, "-m", "textdesk.cli", *args], env=self.env, stdout=log, stderr=log)

    def _web(self) -> subprocess.Popen:
        return self._spawn(["serve", "--port", str(self.web_port)], "web")

    def _worker(self, i: int) -> subprocess.Popen:
        return self._spawn(["worker", "--threads", str(self.threads), "--name", f"faults-worker-{i}"], f"worker{i}")

    def kill_web(self) -> None:
        os.kill(self.web.pid, signal.SIGKILL)
        self.web.wait()
        self.web_kills += 1
        self.web = self._web()

    def kill_worker(self, i: int) -> None:
        os.kill(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()
        self.worker_kills += 1
        self.workers[i] = self._worker(i)

    def alive(self) -> list[bool]:
        return [proc.poll() is None for proc in [self.web, *self.workers]]

    def stop(self) -> None:
        for proc in [self.web, *self.workers]:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute): 200 + 200, 20 s")
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent webhook posters, and as many API clients")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="sending threads per worker")
    parser.add_argument("--seconds", type=float, default=60.0, help="spread the traffic over this long")
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between two kill -9")
    parser.add_argument("--retry-for", type=float, default=120.0, help="how long a webhook is retried (provider)")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for the workers to settle")
    args = parser.parse_args()
    if args.quick:
        args.webhooks, args.sends, args.seconds, args.kill_every = 200, 200, 20.0, 3.0

    database_url = os.environ.get("TEXTDESK_DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("the fault run needs PostgreSQL: set TEXTDESK_DATABASE_URL=postgres://…")
    redis_url = os.environ.get("TEXTDESK_REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("TEXTDESK_DATA_DIR", tempfile.mkdtemp(prefix="textdesk-faults-"))
    logs = Path(tempfile.mkdtemp(prefix="textdesk-faults-logs-"))
    web_port = _free_port()
    public_url = f"http://127.0.0.1:{web_port}"
    os.environ["TEXTDESK_PUBLIC_URL"] = public_url
    os.environ["TEXTDESK_REDIS_URL"] = ""  # this process only prepares and counts
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)

    import httpx
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db.models import Count

    from tcp_cut_proxy import CutProxy
    from textdesk.crm.models import Contact
    from textdesk.domain import status as st
    from textdesk.jobs.models import Job, WorkerHeartbeat
    from textdesk.messaging.models import (
        Conversation,
        Message,
        MessageEvent,
        Notification,
        ProviderAccount,
        SenderNumber,
    )
    from textdesk.org.models import ApiToken, User
    from textdesk.org.roles import SALESPERSON
    from textdesk.simulator.server import start_in_thread

    call_command("migrate", verbosity=0)
    sim = start_in_thread("127.0.0.1", 0)
    target = urlsplit(database_url)
    pg_proxy = CutProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    redis_target = urlsplit(redis_url)
    redis_proxy = CutProxy(redis_target.hostname or "127.0.0.1", redis_target.port or 6379).start()

    tag = secrets.token_hex(4)
    user = User.objects.create_user(f"faults-{tag}", password=secrets.token_urlsafe(16))
    user.groups.add(Group.objects.get(name=SALESPERSON))
    _, token = ApiToken.issue(user, name="fault run")
    sid, auth = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    account = ProviderAccount(kind="twilio", name=f"faults {tag}", options={"base_url": sim.url})
    account.credentials = {"account_sid": sid, "auth_token": auth}
    account.save()
    prefix = 1000 + secrets.randbelow(8000)
    numbers = []
    for i in range(2):
        e164 = f"+1555{prefix:04d}{i:03d}"
        numbers.append(
            SenderNumber.objects.create(
                e164=e164, name=f"faults {tag} {i}", provider_account=account, owner_user=user, rate_per_second=50
            )
        )
        sim.state.add_number({"number": e164, "account_sid": sid, "auth_token": auth})
    contact = Contact.objects.create(last_name=f"Faults {tag}", owner_user=user, mobile_phone="+5511912340000")
    WorkerHeartbeat.objects.filter(name__startswith="faults-worker-").delete()

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "TEXTDESK_DATABASE_URL": _through(database_url, pg_proxy.port),
        "TEXTDESK_REDIS_URL": _through(redis_url, redis_proxy.port),
        "TEXTDESK_BUS_PREFIX": f"faults-{tag}",
        "TEXTDESK_DELIVERY_REPORT_TIMEOUT": os.environ.get("TEXTDESK_DELIVERY_REPORT_TIMEOUT", "15"),
        "TEXTDESK_OUTBOUND_SWEEP_SECONDS": os.environ.get("TEXTDESK_OUTBOUND_SWEEP_SECONDS", "3"),
        "TEXTDESK_LOG_LEVEL": "ERROR",
    }
    procs = Processes(env, args.workers, args.threads, web_port, logs)
    for _ in range(150):  # wait for the web server
        try:
            httpx.get(f"{public_url}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)

    lock = threading.Lock()
    api_answers: Counter = Counter()
    hook_answers: Counter = Counter()
    during_cut: Counter = Counter()  # 5xx answered while PostgreSQL or Redis was cut (or just after)
    accepted: set[str] = set()
    acknowledged: set[str] = set()
    given_up: set[str] = set()
    cut_until = [0.0]
    send_body = f"fault run {tag} out #{{}}".format
    hook_sid = f"SM{tag}{{:024d}}".format
    inbound_path = urlsplit(account.inbound_url).path

    def count(answers: Counter, status) -> None:
        with lock:
            answers[status] += 1
            if isinstance(status, int) and status >= 500 and time.monotonic() < cut_until[0] + 10:
                during_cut[status] += 1

    def poster(k: int) -> None:
        """A provider posting its webhooks; what fails is sent again, like a provider's retries."""
        pace = args.seconds / max(1, args.webhooks) * args.clients
        with httpx.Client(base_url=public_url, timeout=30) as http:
            for i in range(k, args.webhooks, args.clients):
                started = time.monotonic()
                params = {
                    "MessageSid": hook_sid(i),
                    "AccountSid": sid,
                    "From": "+5511912340000",  # the contact: routed to its record
                    "To": numbers[i % 2].e164,
                    "Body": f"fault run {tag} in #{i}",
                    "NumSegments": "1",
                    "NumMedia": "0",
                }
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": twilio_signature(auth, public_url + inbound_path, params),
                }
                deadline, delay = time.monotonic() + args.retry_for, 0.5
                while True:
                    try:
                        status = http.post(
                            inbound_path, content=urlencode(params).encode(), headers=headers
                        ).status_code
                    except httpx.HTTPError:
                        status = "no answer"
                    count(hook_answers, status)
                    if isinstance(status, int) and status < 500:
                        break
                    if time.monotonic() > deadline:
                        with lock:
                            given_up.add(hook_sid(i))
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, 8.0)
                if status in (200, 204):
                    with lock:
                        acknowledged.add(hook_sid(i))
                time.sleep(max(0.0, pace - (time.monotonic() - started)))

    def sender(k: int) -> None:
        pace = args.seconds / max(1, args.sends) * args.clients
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            for i in range(k, args.sends, args.clients):
                started = time.monotonic()
                payload = {
                    "record_type": "contact",
                    "record_id": contact.pk,
                    "sender_number_id": numbers[i % 2].pk,
                    "to": "+5511912340000",
                    "body": send_body(i),
                }
                try:
                    status = http.post(f"{public_url}/api/v1/messages", json=payload).status_code
                except httpx.HTTPError:
                    status = "no answer"
                count(api_answers, status)
                if status == 201:
                    with lock:
                        accepted.add(send_body(i))
                time.sleep(max(0.0, pace - (time.monotonic() - started)))

    stop_faults = threading.Event()

    def faults() -> None:
        """kill -9 the web server and each worker in turn; cut PostgreSQL at a third and two thirds, Redis at half."""
        cuts = {
            args.seconds / 3: ("postgres", 5.0),
            args.seconds / 2: ("redis", 8.0),
            2 * args.seconds / 3: ("postgres", 5.0),
        }
        begun, turn = time.monotonic(), 0
        while not stop_faults.wait(args.kill_every):
            if turn % (args.workers + 1) == 0:
                procs.kill_web()
            else:
                procs.kill_worker(turn % (args.workers + 1) - 1)
            turn += 1
            elapsed = time.monotonic() - begun
            for moment in sorted(cuts):
                if elapsed >= moment:
                    what, seconds = cuts.pop(moment)
                    (pg_proxy if what == "postgres" else redis_proxy).cut(seconds)
                    cut_until[0] = time.monotonic() + seconds

    traffic = [threading.Thread(target=poster, args=(k,)) for k in range(args.clients)]
    traffic += [threading.Thread(target=sender, args=(k,)) for k in range(args.clients)]
    chaos = threading.Thread(target=faults)
    chaos.start()
    for t in traffic:
        t.start()
    for t in traffic:
        t.join()
    stop_faults.set()
    chaos.join()

    inbound = Message.objects.filter(provider_account=account, direction="inbound")
    outbound = Message.objects.filter(provider_account=account, direction="outbound")
    in_flight = [st.QUEUED, st.SCHEDULED, st.SENDING]
    awaiting = [st.SENDING, st.SENT]
    give_up = time.monotonic() + args.settle
    while time.monotonic() < give_up:
        if (
            not outbound.filter(status__in=in_flight + awaiting).exists()
            and not inbound.filter(routing_state="pending").exists()
        ):
            break
        time.sleep(1)

    stored = Counter(dict(inbound.values_list("provider_message_id").annotate(n=Count("id"))))
    inbound_lost = sum(1 for s in acknowledged if stored.get(s, 0) == 0) + len(given_up)
    inbound_doubled = sum(1 for n in stored.values() if n > 1)
    reached = Counter(m["body"] for m in sim.state.list_messages(direction="outbound") if m["body"] in accepted)
    by_body = {m.body: m for m in outbound}
    outbound_doubled = sum(1 for body in accepted if reached[body] >= 2)
    outbound_lost = sum(
        1
        for body in accepted
        if reached[body] == 0
        and (by_body.get(body) is None or by_body[body].status not in (st.FAILED, st.UNKNOWN, *in_flight, *awaiting))
    )
    stuck = sum(1 for m in by_body.values() if m.status in in_flight)
    # Sends stored whose 201 never reached the client (the web server was killed before answering): not lost,
    # the seller sees them; a client that sends again without an idempotency key would send twice.
    unanswered = sum(1 for body in by_body if body not in accepted)
    loop_restarts = sum(
        WorkerHeartbeat.objects.filter(name__startswith="faults-worker-").values_list("restarts", flat=True)
    )
    worker_restarts = procs.worker_kills + loop_restarts
    alive = procs.alive()
    health = "no answer"
    try:
        health = httpx.get(f"{public_url}/healthz", timeout=10).status_code
    except httpx.HTTPError:
        pass
    fives = sum(n for status, n in (api_answers + hook_answers).items() if isinstance(status, int) and status >= 500)
    print(
        f"webhook answers (retries included): {dict(hook_answers)}; acknowledged {len(acknowledged)} of {args.webhooks}"
    )
    print(f"API answers: {dict(api_answers)}; sends accepted {len(accepted)} of {args.sends}")
    print(
        f"kills: web {procs.web_kills}, workers {procs.worker_kills}; worker loops restarted by their supervisor "
        f"{loop_restarts}; cuts: PostgreSQL {pg_proxy.cuts}, Redis {redis_proxy.cuts}"
    )
    print(
        f"5xx during or just after a cut: {dict(during_cut)}; other 5xx: {fives - sum(during_cut.values())}; "
        f"outbound statuses: {dict(Counter(m.status for m in by_body.values()))}, still in flight {stuck}, "
        f"stored but unanswered (web killed) {unanswered}"
    )
    print(f"alive at the end: web {alive[0]}, workers {alive[1:]}; /healthz {health}; logs in {logs}")
    print(
        f"faults: inbound lost {inbound_lost} doubled {inbound_doubled}, outbound lost {outbound_lost} doubled "
        f"{outbound_doubled}, worker restarts {worker_restarts}, 5xx {fives}"
    )

    procs.stop()
    sim.stop()
    ids = list(outbound.values_list("id", flat=True)) + list(inbound.values_list("id", flat=True))
    Job.objects.filter(kind="send_message", payload__message_id__in=ids).delete()
    MessageEvent.objects.filter(message_id__in=ids).delete()
    Notification.objects.filter(user=user).delete()
    Message.objects.filter(pk__in=ids).delete()
    Conversation.objects.filter(sender_number__in=numbers).delete()
    contact.delete()
    SenderNumber.objects.filter(pk__in=[n.pk for n in numbers]).delete()
    account.delete()
    ApiToken.objects.filter(user=user).delete()
    user.delete()
    WorkerHeartbeat.objects.filter(name__startswith="faults-worker-").delete()
    sys.exit(0 if inbound_lost == inbound_doubled == outbound_lost == outbound_doubled == 0 and all(alive) else 1)


if __name__ == "__main__":
    main()
