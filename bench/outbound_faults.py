"""Fault run: sends through the API while workers die (kill -9) and PostgreSQL goes away; then count the damage.

    TEXTDESK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/textdesk python bench/outbound_faults.py --sends 1000

Starts the built-in simulator (Twilio wire format), a web server (`textdesk serve`) and worker processes
(`textdesk worker`), both talking to PostgreSQL through a local TCP proxy (bench/tcp_cut_proxy.py). Concurrent
API clients send on few sender numbers; meanwhile a worker is killed with SIGKILL every few seconds and started
again, and the proxy cuts every database connection for 5 s, twice. Then it waits for the workers to settle and
prints one line:

    outbound faults: sent <n>, reached provider once <n>, twice <n>, lost <n>, unknown outcome <n>, stuck <n>, kills <n>

- sent: sends the API answered 201;
- reached provider once / twice: of those, how often the simulator received each (by its unique body);
- lost: answered 201 but never reached the provider, and not shown to the seller as failed;
- unknown outcome: shown as *Unknown outcome* (a worker died while the request was in flight);
- stuck: still in flight (queued, sending) or accepted without a final state (delivered, undelivered, failed,
  no delivery report) when the settling time ran out.
It creates its own user, provider account and numbers, and removes them afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{auth}127.0.0.1:{port}", parts.path, parts.query, parts.fragment))


class Processes:
    """The web server and the workers, each a `textdesk` process; workers can be killed and started again."""

    def __init__(self, env: dict, workers: int, threads: int, web_port: int) -> None:
        self.env, self.threads, self.kills = env, threads, 0
        cli = [sys.executable, "-m", "textdesk.cli"]
        self.web = subprocess.Popen(cli + ["serve", "--port", str(web_port)], env=env, stderr=subprocess.DEVNULL)
        self.workers = [self._worker() for _ in range(workers)]

    def _worker(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "textdesk.cli", "worker", "--threads", str(self.threads)],
            env=self.env,
            stderr=subprocess.DEVNULL,
        )

    def kill_one(self) -> None:
        i = random.randrange(len(self.workers))
        os.kill(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()
        self.kills += 1
        self.workers[i] = self._worker()

    def stop(self) -> None:
        for proc in [self.web, *self.workers]:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients")
    parser.add_argument("--numbers", type=int, default=2, help="sender numbers the sends share")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="sending threads per worker")
    parser.add_argument("--seconds", type=float, default=30.0, help="spread the sends over this long")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between two kill -9 of a worker")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for the workers to settle")
    args = parser.parse_args()

    database_url = os.environ.get("TEXTDESK_DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("the fault run needs PostgreSQL: set TEXTDESK_DATABASE_URL=postgres://…")
    os.environ.setdefault("TEXTDESK_DATA_DIR", tempfile.mkdtemp(prefix="textdesk-faults-"))
    web_port = _free_port()
    os.environ["TEXTDESK_PUBLIC_URL"] = f"http://127.0.0.1:{web_port}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)

    import httpx
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from tcp_cut_proxy import CutProxy
    from textdesk.crm.models import Contact
    from textdesk.domain import status as st
    from textdesk.jobs.models import Job
    from textdesk.messaging.models import Conversation, Message, MessageEvent, ProviderAccount, SenderNumber
    from textdesk.org.models import ApiToken, User
    from textdesk.org.roles import SALESPERSON
    from textdesk.simulator.server import start_in_thread

    call_command("migrate", verbosity=0)
    sim = start_in_thread("127.0.0.1", 0)
    target = urlsplit(database_url)
    proxy = CutProxy(target.hostname or "127.0.0.1", target.port or 5432).start()

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
    for i in range(args.numbers):
        e164 = f"+1555{prefix:04d}{i:03d}"
        numbers.append(
            SenderNumber.objects.create(
                e164=e164, name=f"faults {tag} {i}", provider_account=account, owner_user=user, rate_per_second=50
            )
        )
        sim.state.add_number({"number": e164, "account_sid": sid, "auth_token": auth})
    contact = Contact.objects.create(last_name=f"Faults {tag}", owner_user=user, mobile_phone="+5511912340000")

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "TEXTDESK_DATABASE_URL": _through(database_url, proxy.port),
        "TEXTDESK_DELIVERY_REPORT_TIMEOUT": os.environ.get("TEXTDESK_DELIVERY_REPORT_TIMEOUT", "15"),
        "TEXTDESK_OUTBOUND_SWEEP_SECONDS": os.environ.get("TEXTDESK_OUTBOUND_SWEEP_SECONDS", "3"),
        "TEXTDESK_LOG_LEVEL": "ERROR",
    }
    procs = Processes(env, args.workers, args.threads, web_port)
    api = f"http://127.0.0.1:{web_port}/api/v1/messages"
    for _ in range(100):  # wait for the web server
        try:
            httpx.get(f"http://127.0.0.1:{web_port}/api/v1/openapi.json", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)

    answers: Counter = Counter()
    accepted: set[str] = set()
    lock = threading.Lock()
    body_of = f"fault run {tag} #{{}}".format
    pace = args.seconds / max(1, args.sends) * args.clients

    def client(k: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            for i in range(k, args.sends, args.clients):
                started = time.monotonic()
                payload = {
                    "record_type": "contact",
                    "record_id": contact.pk,
                    "sender_number_id": numbers[i % len(numbers)].pk,
                    "to": f"+55119{(20000000 + i) % 100000000:08d}",
                    "body": body_of(i),
                    "add_number_to_record": True,  # each send goes to a new number of the contact's
                }
                try:
                    answer = http.post(api, json=payload).status_code
                except httpx.HTTPError:
                    answer = "no answer"
                with lock:
                    answers[answer] += 1
                    if answer == 201:
                        accepted.add(body_of(i))
                time.sleep(max(0.0, pace - (time.monotonic() - started)))

    stop_faults = threading.Event()

    def faults() -> None:
        cut_at = {args.seconds / 3, 2 * args.seconds / 3}
        begun = time.monotonic()
        while not stop_faults.wait(args.kill_every):
            procs.kill_one()
            elapsed = time.monotonic() - begun
            for moment in sorted(cut_at):
                if elapsed >= moment:
                    cut_at.discard(moment)
                    proxy.cut(5.0)

    clients = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    chaos = threading.Thread(target=faults)
    chaos.start()
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    time.sleep(args.kill_every)  # a last kill or two while the queue drains
    stop_faults.set()
    chaos.join()

    ours = Message.objects.filter(provider_account=account)
    in_flight = [st.QUEUED, st.SCHEDULED, st.SENDING]
    awaiting = [st.SENDING, st.SENT]
    give_up = time.monotonic() + args.settle
    while time.monotonic() < give_up:
        if not ours.filter(status__in=in_flight + awaiting).exists():
            break
        time.sleep(1)

    reached = Counter(m["body"] for m in sim.state.list_messages(direction="outbound") if m["body"] in accepted)
    by_body = {m.body: m for m in ours}
    once = sum(1 for body in accepted if reached[body] == 1)
    twice = sum(1 for body in accepted if reached[body] >= 2)
    unknown = sum(1 for m in by_body.values() if m.status == st.UNKNOWN)
    stuck = sum(
        1 for m in by_body.values() if m.status in in_flight or (m.status in awaiting and m.provider_message_id)
    )
    lost = sum(
        1
        for body in accepted
        if reached[body] == 0
        and (by_body.get(body) is None or by_body[body].status not in (st.FAILED, st.UNKNOWN, *in_flight, *awaiting))
    )
    statuses = Counter(m.status for m in by_body.values())
    print(f"API answers: {dict(answers)}; statuses: {dict(statuses)}; database cuts: {proxy.cuts}")
    print(
        f"outbound faults: sent {len(accepted)}, reached provider once {once}, twice {twice}, lost {lost}, "
        f"unknown outcome {unknown}, stuck {stuck}, kills {procs.kills}"
    )

    procs.stop()
    sim.stop()
    ids = list(ours.values_list("id", flat=True))
    Job.objects.filter(kind="send_message", payload__message_id__in=ids).delete()
    MessageEvent.objects.filter(message_id__in=ids).delete()
    from textdesk.messaging.models import Notification

    Notification.objects.filter(user=user).delete()
    ours.delete()
    Conversation.objects.filter(sender_number__in=numbers).delete()
    contact.delete()
    SenderNumber.objects.filter(pk__in=[n.pk for n in numbers]).delete()
    account.delete()
    ApiToken.objects.filter(user=user).delete()
    user.delete()


if __name__ == "__main__":
    main()
