"""How many Twilio-format sends per second the built-in simulator takes (one uvicorn process of its own).

    PYTHONPATH=src python bench/simulator_sends.py [--sends 3000] [--concurrency 64] [--callbacks]

The client is aiohttp in this process (many requests in flight on kept-alive connections); with
``--callbacks`` the simulator also posts its three status callbacks per message to a sink in this process.
Ends with one line: ``simulator: <rate> sends/s (<n> sends, <c> in flight, callbacks on|off)``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import aiohttp
from aiohttp import web

SID = "AC" + "b" * 32
TOKEN = "bench-token"
OURS = "+14155550001"


async def acknowledge(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), whatever else the machine is doing."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(sends: int, concurrency: int, callbacks: bool) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", f"from textdesk.simulator.server import serve; serve('127.0.0.1', {port})"]
    )
    base = f"http://127.0.0.1:{port}"
    sink_runner = None
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
            for _ in range(200):
                try:
                    async with http.get(base + "/_sim/health") as answer:
                        if answer.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            number = {"number": OURS, "account_sid": SID, "auth_token": TOKEN}
            if callbacks:
                app = web.Application()
                app.router.add_post("/{tail:.*}", acknowledge)
                sink_runner = web.AppRunner(app, access_log=None)
                await sink_runner.setup()
                sink_port = free_port()
                await web.TCPSite(sink_runner, "127.0.0.1", sink_port).start()
                number["status_callback"] = f"http://127.0.0.1:{sink_port}/status"
            await http.post(base + "/_sim/numbers", json=number)
            await http.post(base + "/_sim/config", json={"callback_delays": [0, 0]})
            url = f"{base}/2010-04-01/Accounts/{SID}/Messages.json"
            auth = (
                {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
                if hasattr(aiohttp, "encode_basic_auth")
                else {"Authorization": aiohttp.BasicAuth(SID, TOKEN).encode()}
            )
            queue = iter(range(sends))
            failures = 0

            async def worker() -> None:
                nonlocal failures
                for i in queue:
                    form = {"To": f"+1415556{i % 10000:04d}", "From": OURS, "Body": f"bench {i}"}
                    async with http.post(url, data=form, headers=auth) as answer:
                        await answer.read()
                        failures += answer.status != 201

            await asyncio.gather(*(worker() for _ in range(min(concurrency, 8))))  # warm-up connections
            queue = iter(range(sends))
            cpu_before = process_cpu_seconds(server.pid)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            cpu = process_cpu_seconds(server.pid) - cpu_before
            if failures:
                print(f"{failures} sends were not answered 201", file=sys.stderr)
        rate = sends / elapsed
        print(
            f"simulator: {rate:.0f} sends/s ({sends} sends, {concurrency} in flight, "
            f"callbacks {'on' if callbacks else 'off'}); its CPU per send {cpu / sends * 1e6:.0f} µs "
            f"= {sends / cpu:.0f} sends per CPU-second; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        if sink_runner is not None:
            await sink_runner.cleanup()
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--callbacks", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.sends, args.concurrency, args.callbacks))
