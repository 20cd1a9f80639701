"""Outbound benchmark: drain N queued messages through 1..k worker processes to the built-in simulator.

    python bench/outbound.py --messages 300 --workers 1,2,4 --numbers 4 --rate 5 --threads 1,4

Uses TEXTDESK_DATABASE_URL when set (PostgreSQL: several workers claim in parallel), else a fresh SQLite
database in a temporary folder. It creates its own user, provider account and numbers, leaves other data
alone, and removes what it created. Figures are printed, never asserted:

- messages/s: messages handed to the provider per second of draining;
- queue-to-provider latency (p50/p99): from the moment the first worker takes its first message (all
  messages are queued beforehand) to the provider's acceptance, and the provider round trip alone;
- observed rate per sender number against its limit.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _django(data_dir: str | None = None) -> None:
    if data_dir and not os.environ.get("TEXTDESK_DATA_DIR"):
        os.environ["TEXTDESK_DATA_DIR"] = data_dir
    # Status callbacks from the simulator go to a closed local port: the benchmark measures sending only.
    os.environ.setdefault("TEXTDESK_PUBLIC_URL", "http://127.0.0.1:9")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "textdesk.settings")
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would swamp the figures


# ---------------------------------------------------------------- worker process


def worker_main(name: str, threads: int) -> None:
    profile_to = os.environ.get("TEXTDESK_BENCH_PROFILE")  # a folder: each worker writes its cProfile there
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            _worker_loop(name, threads)
        finally:
            profiler.disable()
            profiler.dump_stats(os.path.join(profile_to, f"{name}.prof"))
        return
    _worker_loop(name, threads)


def _worker_loop(name: str, threads: int) -> None:
    _django()
    from concurrent.futures import ThreadPoolExecutor

    from django.db.models import Min

    from textdesk.jobs.models import Job, JobState
    from textdesk.jobs.worker import close_pipelines, load_handlers, run_once, size_connection_pool, start_pipelines

    size_connection_pool(threads)  # as `textdesk worker --threads N` (PostgreSQL: its pool holds threads + 1)
    load_handlers()
    pool = ThreadPoolExecutor(threads) if threads > 1 else None  # as `textdesk worker --threads N`
    pipelines = start_pipelines(name)  # as `textdesk worker` (PostgreSQL: the pipelined send path)
    pending = Job.objects.filter(kind="send_message", state=JobState.PENDING)
    while True:
        if run_once(name, pool=pool, pipelines=pipelines):
            continue
        next_due = pending.aggregate(first=Min("run_at"))["first"]
        if next_due is None:
            close_pipelines(pipelines)
            return
        from django.utils import timezone

        time.sleep(min(0.2, max(0.0, (next_due - timezone.now()).total_seconds())))


# ---------------------------------------------------------------- one run


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(messages: int, workers: int, numbers: int, rate: float, sim, threads: int = 1) -> tuple[float, float]:
    """One drain; returns (messages per second, the largest overshoot of a number's limit in any 1-second window,
    in percent)."""
    from django.contrib.auth.models import Group
    from django.db.models import Count

    from textdesk.crm.models import Contact
    from textdesk.jobs.models import Job
    from textdesk.messaging.models import Conversation, Message, MessageEvent, ProviderAccount, SenderNumber
    from textdesk.messaging.outbound.send import send_message
    from textdesk.org.models import User
    from textdesk.org.roles import SALESPERSON

    tag = secrets.token_hex(4)
    user = User.objects.create_user(f"bench-{tag}", password=secrets.token_urlsafe(16))
    user.groups.add(Group.objects.get(name=SALESPERSON))
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    account = ProviderAccount(kind="twilio", name=f"bench {tag}", options={"base_url": sim.url})
    account.credentials = {"account_sid": sid, "auth_token": token}
    account.save()
    prefix = 1000 + secrets.randbelow(8000)
    ours = []
    for i in range(numbers):
        e164 = f"+1555{prefix:04d}{i:03d}"
        ours.append(
            SenderNumber.objects.create(
                e164=e164, name=f"bench {tag} {i}", provider_account=account, owner_user=user, rate_per_second=rate
            )
        )
        sim.state.add_number({"number": e164, "account_sid": sid, "auth_token": token})
    contact = Contact.objects.create(last_name=f"Bench {tag}", owner_user=user, mobile_phone="+5511912340000")
    for i in range(messages):
        send_message(
            user=user,
            record=contact,
            sender_number=ours[i % numbers],
            to_number=f"+55119{(12340000 + i) % 100000000:08d}",
            body=f"Benchmark message {i}",
            add_number_to_record=True,
        )
    ids = list(Message.objects.filter(provider_account=account).values_list("id", flat=True))
    _vacuum()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    start = time.time()
    procs = [
        subprocess.Popen([sys.executable, __file__, "--worker", f"bench-{tag}-{w}", "--threads", str(threads)], env=env)
        for w in range(workers)
    ]
    for proc in procs:
        proc.wait()
    elapsed = time.time() - start

    accepted = {
        e.message_id: e.at.timestamp()
        for e in MessageEvent.objects.filter(message_id__in=ids, detail__startswith="accepted as").order_by("at")
    }
    from textdesk.messaging.outbound.dispatch import slot_of

    sending, slots = {}, {}
    for e in (
        MessageEvent.objects.filter(message_id__in=ids, status="sending")
        .exclude(detail__startswith="accepted as")
        .order_by("at")
    ):
        sending[e.message_id] = e.at.timestamp()  # the last attempt's start
        slot = slot_of(e.detail)
        if slot is not None:
            slots[e.message_id] = slot.timestamp()
    by_number: dict[int, list[float]] = {}
    for mid, number_id in Message.objects.filter(id__in=ids).values_list("id", "sender_number_id"):
        if mid in accepted and mid in slots:
            # The rate-limit slot each handoff was given: exactly what the limiter controls.
            by_number.setdefault(number_id, []).append(slots[mid])
    done = len(accepted)
    # The clock starts when the first worker takes its first message (process start-up is not sending).
    first = min(sending.values()) if sending else start
    drain = (max(accepted.values()) - first) if accepted else elapsed
    queue_latency = [t - first for t in accepted.values()]
    round_trip = [accepted[m] - sending[m] for m in accepted if m in sending]
    statuses = dict(
        Message.objects.filter(id__in=ids).values("status").annotate(n=Count("id")).values_list("status", "n")
    )

    print(
        f"\n{workers} worker(s) x {threads} thread(s), {messages} messages, {numbers} numbers at {rate:g}/s each "
        f"(ceiling {numbers * rate:g}/s)"
    )
    print(f"  workers started in {first - start:.2f}s")
    print(
        f"  handed to the provider: {done}/{messages} in {drain:.2f}s -> {done / drain if drain else 0:.1f} messages/s"
        f"   statuses: {statuses} (delivery reports are not collected here)"
    )
    print(
        f"  queue-to-provider latency: p50 {percentile(queue_latency, 50) * 1000:.0f} ms, "
        f"p99 {percentile(queue_latency, 99) * 1000:.0f} ms"
    )
    print(
        f"  provider round trip:       p50 {percentile(round_trip, 50) * 1000:.1f} ms, "
        f"p99 {percentile(round_trip, 99) * 1000:.1f} ms"
    )
    overshoot = 0.0
    for number in ours:
        times = sorted(by_number.get(number.pk, []))
        observed = (
            (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")
        )
        busiest = max((sum(1 for t in times if s <= t < s + 1) for s in times), default=0)
        overshoot = max(overshoot, (busiest - rate) / rate * 100)
        print(
            f"  {number.e164}: {len(times)} sent, observed {observed:.1f}/s, busiest 1-second window {busiest} "
            f"(limit {rate:g}/s; by reserved slot)"
        )

    # Remove what this run created.
    Job.objects.filter(kind="send_message", payload__message_id__in=ids).delete()
    MessageEvent.objects.filter(message_id__in=ids).delete()
    Message.objects.filter(id__in=ids).delete()
    Conversation.objects.filter(sender_number__in=ours).delete()
    contact.delete()
    SenderNumber.objects.filter(pk__in=[n.pk for n in ours]).delete()
    account.delete()
    user.delete()
    return (done / drain if drain else 0.0), overshoot


def _vacuum() -> None:
    """PostgreSQL: the tables a drain works on vacuumed and analysed, as autovacuum keeps them where it is on (a
    server with it off would otherwise carry every earlier run's dead rows into this one)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in (
            "jobs_job",
            "messaging_message",
            "messaging_messageevent",
            "messaging_conversation",
            "messaging_sendernumber",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


class Sink:
    """bench/outbound_sink.py in its own process, shaped like the simulator's handle for ``run``."""

    class _State:
        def add_number(self, number: dict) -> None:
            pass  # the sink takes every number

    def __init__(self) -> None:
        sys.path.insert(0, str(ROOT / "bench"))
        from outbound_floor import start_sink

        self.proc, self.url = start_sink()
        self.state = self._State()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def summary(messages: int, numbers: int, rate: float, worker_counts: list[int], threads: int, sim) -> None:
    """TextDesk to the sink and to the simulator with each worker count, and the floor, in one run: the one-line
    summary, with the most workers asked for."""
    from outbound_floor import floor

    sink = Sink()
    try:
        to_sink = {count: run(messages, count, numbers, rate, sink, threads) for count in worker_counts}
        floors = floor(sink.url, max(messages, 2000))
    finally:
        sink.stop()
    to_sim = {count: run(messages, count, numbers, rate, sim, threads) for count in worker_counts}
    best = max(floors.values())
    print("\nfloor: " + ", ".join(f"{client} {value:.0f} msg/s" for client, value in floors.items()))
    for count in worker_counts:
        print(
            f"{count} worker(s) x {threads} thread(s): {to_sink[count][0]:.0f} msg/s to the sink "
            f"(ratio {to_sink[count][0] / best:.2f}), {to_sim[count][0]:.0f} msg/s to the simulator"
        )
    top = worker_counts[-1]
    overshoot = max([0.0] + [over for _rate, over in (*to_sink.values(), *to_sim.values())])
    print(
        f"outbound: {to_sink[top][0]:.0f} msg/s to the sink, floor {best:.0f} msg/s, ratio {to_sink[top][0] / best:.2f}, "
        f"simulator {to_sim[top][0]:.0f} msg/s, per-number limit max overshoot {overshoot:.0f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts to try")
    parser.add_argument("--numbers", type=int, default=4, help="sender numbers the messages are spread over")
    parser.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="messages per second allowed per number (low by default, so the limit is what binds)",
    )
    parser.add_argument(
        "--threads", default="1", help="comma-separated sending threads per worker to try (textdesk worker --threads)"
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="PostgreSQL: drain to the sink and to the simulator with each of --workers (the last --threads), measure "
        "the floor, and print the one-line summary (with the most workers)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, int(args.threads))
        return
    _django(tempfile.mkdtemp(prefix="textdesk-bench-"))
    from django.conf import settings
    from django.core.management import call_command

    from textdesk.simulator.server import start_in_thread

    call_command("migrate", verbosity=0)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {engine}")
    sim = start_in_thread("127.0.0.1", 0)
    # The simulator's sends are measured, not its status callbacks: they would go to a closed port (see _django),
    # each refused connection costing the simulator more than the send it reports on.
    sim.state.configure({"post_queued": False, "status_callbacks": False})
    try:
        if args.summary:
            counts = sorted({int(w) for w in args.workers.split(",") if w.strip()})
            threads = [int(t) for t in args.threads.split(",") if t.strip()][-1]
            summary(args.messages, args.numbers, args.rate, counts, threads, sim)
            return
        for threads in [int(t) for t in args.threads.split(",") if t.strip()]:
            for count in [int(w) for w in args.workers.split(",") if w.strip()]:
                run(args.messages, count, args.numbers, args.rate, sim, threads)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
