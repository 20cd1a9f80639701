"""CPU time per inbound message, by component: a steadier figure than throughput on a shared, noisy machine.

    python bench/cpu_per_message.py                    # 100,000 records, 8 s of load per phase
    python bench/cpu_per_message.py --records 1000000 --duration 10

Throughput on two shared cores moves by ±30% from minute to minute; CPU seconds spent per message move much
less, and they say where the time goes. Phases, each under the same wrk load (16 connections):
1. the floor (bench/floor_app.py): its server processes, PostgreSQL, wrk;
2. TextDesk acknowledging while its workers are frozen (SIGSTOP): web processes, PostgreSQL, wrk;
3. the workers thawed on the backlog of phase 2: worker processes and PostgreSQL per routed message (their
   start-up is not counted: they started before phase 2 and routed the warm-up's messages);
4. TextDesk as deployed (web + workers) under a paced load of ``--pace`` msg/s: every component per message.
Prints microseconds of CPU per message (user + system) for each component of each phase. Needs wrk, PostgreSQL
and Redis on 127.0.0.1 (as bench/inbound.py). Counted from /proc: processes that exit during a phase are missed
(none of these do).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inbound as bench

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(command, session id, CPU ticks) of a process, None if it has gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return command, int(fields[3]), int(fields[11]) + int(fields[12])


def cpu_by_component(sessions: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process session, by PostgreSQL's processes, and by wrk."""
    totals = {name: 0.0 for name in [*sessions, "postgresql", "redis", "wrk"]}
    by_session = {sid: name for name, sid in sessions.items()}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        stat = _stat(pid)
        if stat is None:
            continue
        command, session, ticks = stat
        if session in by_session:
            totals[by_session[session]] += ticks / TICKS
        elif command == "postgres":
            totals["postgresql"] += ticks / TICKS
        elif command == "redis-server":
            totals["redis"] += ticks / TICKS
        elif command == "wrk":
            totals["wrk"] += ticks / TICKS
    return totals


class Meter:
    """CPU used by each component between ``start`` and ``stop``; wrk's own CPU is counted from its rusage."""

    def __init__(self, sessions: dict[str, int]) -> None:
        self.sessions = sessions

    def start(self) -> None:
        self.before = cpu_by_component(self.sessions)
        self.children_before = _children_cpu()

    def stop(self) -> dict[str, float]:
        after = cpu_by_component(self.sessions)
        used = {name: after[name] - self.before[name] for name in after}
        used["wrk"] = _children_cpu() - self.children_before  # wrk has exited by now: its rusage is ours
        return used


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(title: str, used: dict[str, float], messages: int) -> None:
    parts = "  ".join(f"{name} {seconds / messages * 1e6:6.0f}" for name, seconds in used.items() if seconds > 0)
    total = sum(used.values()) / messages * 1e6
    bench.log(f"{title:<34} {messages:>7} msgs  µs CPU per message: {parts}  | total {total:6.0f}")


def wrk_load(
    port: int, work: Path, tag: str, duration: int, known: list[str], rng: random.Random, delay_ms: int = 0
) -> dict:
    file = work / f"{tag}.txt"
    bench.write_requests(file, bench.MAX_RATE * duration, tag, known, rng)
    return bench.wrk(port, 16, duration, file, delay_ms=delay_ms)


def session_of(process: subprocess.Popen) -> int:
    return process.pid  # started with start_new_session=True: the process leads its own session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per phase")
    parser.add_argument("--pace", type=float, default=600, help="msg/s of phase 4")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--route-workers", type=int, default=2)
    parser.add_argument("--database", default="textdesk_bench_cpu")
    args = parser.parse_args()

    rng = random.Random(20261122)
    work = Path(tempfile.mkdtemp(prefix="textdesk-cpu-"))
    (work / "logs").mkdir()
    bench.recreate_pg_database(args.database)
    env = bench.setup_environment(
        f"postgres://postgres@127.0.0.1:5432/{args.database}", str(work / "data"), f"cpu{os.getpid()}"
    )
    subprocess.run([str(bench.BIN / "textdesk"), "migrate", "-v0"], env=env, check=True)
    bench.django_setup(env)
    bench.seed_organisation()
    known: list[str] = []
    for chunk in range(0, args.records, 100_000):
        bench.load_records(chunk, min(args.records, chunk + 100_000), rng, known)
    bench.settle_database()
    bench.log(f"{args.records:,} records loaded; {args.web_workers} web processes, {args.route_workers} workers")

    # 1. the floor
    floor = bench.start_floor(args.database, work, args.web_workers)
    try:
        bench.warm_up(bench.FLOOR_PORT, work, "fw", known, rng)
        meter = Meter({"floor": session_of(floor)})
        meter.start()
        result = wrk_load(bench.FLOOR_PORT, work, "fl", args.duration, known, rng)
        report(f"1 floor ({result['rps']:.0f} msg/s)", meter.stop(), result["requests"])
    finally:
        bench.stop(floor)

    # 2. acknowledgement alone
    web = bench.start(
        [str(bench.BIN / "textdesk"), "serve", "--port", str(bench.WEB_PORT), "--workers", str(args.web_workers)],
        env,
        work / "logs" / "web.log",
    )
    workers: list[subprocess.Popen] = []
    try:
        bench.wait_http(f"http://127.0.0.1:{bench.WEB_PORT}/healthz")
        bench.warm_up(bench.WEB_PORT, work, "tw", known, rng)
        # The workers start now (their start-up is not routing), route the warm-up's messages, and are frozen
        # while the backlog of phase 2 builds up; phase 3 thaws them.
        workers = [
            bench.start([str(bench.BIN / "textdesk"), "worker"], env, work / "logs" / f"worker{i}.log")
            for i in range(args.route_workers)
        ]
        bench.wait_drained()
        time.sleep(1)
        for process in workers:
            os.killpg(process.pid, signal.SIGSTOP)
        meter = Meter({"web": session_of(web)})
        meter.start()
        result = wrk_load(bench.WEB_PORT, work, "ta", args.duration, known, rng)
        report(f"2 acknowledge ({result['rps']:.0f} msg/s)", meter.stop(), result["requests"])
        backlog = bench.pending_count()

        # 3. routing the backlog
        sessions = {"web": session_of(web)}
        sessions.update({f"worker{i}": session_of(process) for i, process in enumerate(workers)})
        meter = Meter(sessions)
        meter.start()
        started = time.time()
        for process in workers:
            os.killpg(process.pid, signal.SIGCONT)
        bench.wait_drained()
        elapsed = time.time() - started
        used = meter.stop()
        used.pop("wrk")
        report(f"3 route backlog ({backlog / elapsed:.0f} msg/s)", used, backlog)

        # 4. deployed, paced
        delay_ms = max(1, int(16 * 1000 / args.pace - 2))
        meter.start()
        result = wrk_load(bench.WEB_PORT, work, "tp", args.duration, known, rng, delay_ms=delay_ms)
        bench.wait_drained()
        report(f"4 deployed, paced ({result['rps']:.0f} msg/s)", meter.stop(), result["requests"])
    finally:
        bench.stop(web)
        for process in workers:
            bench.stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
