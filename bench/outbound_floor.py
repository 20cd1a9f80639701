"""The floor for outbound sending: the fastest plain asyncio loop that does the job honestly.

    python bench/outbound_floor.py --messages 5000 --client aiohttp,httpx     (needs TEXTDESK_DATABASE_URL, PostgreSQL)

Starts the sink (bench/outbound_sink.py, one uvicorn process), fills its own table with N queued messages, and
drains it with C coroutines, each: claim up to B rows with ``FOR UPDATE SKIP LOCKED`` and mark them sending
(one commit), post them to the sink concurrently in Twilio's format, record every answer (provider id, status)
with one ``UPDATE … FROM unnest(…)`` (one commit). Every message is sent once; the run checks that every row
got a distinct provider id. Prints messages per second per HTTP client; ``floor()`` returns the best.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TABLE = "bench_outbound_floor"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink() -> tuple[subprocess.Popen, str]:
    """The sink in its own uvicorn process; returns (process, base URL) once it answers."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(BENCH),
            "outbound_sink:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.post(f"{url}/2010-04-01/Accounts/AC0/Messages.json", data={"To": "+1"}, timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the sink did not start")


def _dsn() -> str:
    url = os.environ.get("TEXTDESK_DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("the floor needs PostgreSQL: set TEXTDESK_DATABASE_URL=postgres://…")
    return url.replace("postgres://", "postgresql://", 1)


async def _fill(pool, messages: int) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, to_number text NOT NULL, "
            "body text NOT NULL, status text NOT NULL, provider_id text, attempts int NOT NULL DEFAULT 0)"
        )
        await conn.execute(
            f"INSERT INTO {TABLE} (to_number, body, status) "
            "SELECT '+5511' || lpad(g::text, 9, '0'), 'Floor message ' || g, 'queued' FROM generate_series(1, $1) g",
            messages,
        )


async def _drain(pool, post, coroutines: int, batch: int) -> None:
    async def worker() -> None:
        while True:
            async with pool.acquire() as conn:
                async with conn.transaction():
                    rows = await conn.fetch(
                        f"UPDATE {TABLE} SET status = 'sending', attempts = attempts + 1 WHERE id IN ("
                        f"SELECT id FROM {TABLE} WHERE status = 'queued' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
                        ") RETURNING id, to_number, body",
                        batch,
                    )
            if not rows:
                return
            answers = await asyncio.gather(*(post(r["to_number"], r["body"]) for r in rows))
            async with pool.acquire() as conn:
                await conn.execute(
                    f"UPDATE {TABLE} t SET status = 'sent', provider_id = v.pid "
                    "FROM unnest($1::bigint[], $2::text[]) AS v(id, pid) WHERE t.id = v.id",
                    [r["id"] for r in rows],
                    answers,
                )

    await asyncio.gather(*(worker() for _ in range(coroutines)))


async def _run(client: str, url: str, messages: int, coroutines: int, batch: int) -> float:
    import asyncpg

    endpoint = f"{url}/2010-04-01/Accounts/AC0/Messages.json"
    pool = await asyncpg.create_pool(_dsn(), min_size=coroutines, max_size=coroutines)
    await _fill(pool, messages)
    if client == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=coroutines * batch))

        async def post(to: str, body: str) -> str:
            async with session.post(endpoint, data={"To": to, "From": "+15550001", "Body": body}) as r:
                return (await r.json(content_type=None))["sid"]

        close = session.close
    else:
        import httpx

        limits = httpx.Limits(max_connections=coroutines * batch, max_keepalive_connections=coroutines * batch)
        session = httpx.AsyncClient(limits=limits, timeout=30)

        async def post(to: str, body: str) -> str:
            r = await session.post(endpoint, data={"To": to, "From": "+15550001", "Body": body})
            return r.json()["sid"]

        close = session.aclose
    started = time.perf_counter()
    await _drain(pool, post, coroutines, batch)
    elapsed = time.perf_counter() - started
    await close()
    async with pool.acquire() as conn:
        sent, distinct, once = await conn.fetchrow(
            f"SELECT count(*) FILTER (WHERE status = 'sent'), count(DISTINCT provider_id), "
            f"count(*) FILTER (WHERE attempts = 1) FROM {TABLE}"
        )
        await conn.execute(f"DROP TABLE {TABLE}")
    await pool.close()
    if not (sent == distinct == once == messages):
        raise RuntimeError(f"floor dishonest: sent {sent}, distinct ids {distinct}, sent once {once} of {messages}")
    return messages / elapsed


def floor(url: str, messages: int, clients=("aiohttp", "httpx"), coroutines: int = 2, batch: int = 100) -> dict:
    """Messages per second of the floor loop with each HTTP client, against the sink at ``url``; a client whose run
    broke off (e.g. httpx's ``ReadError`` when the sink closes one of its 200 connections) is left out, said so."""
    rates = {}
    for client in clients:
        try:
            rates[client] = asyncio.run(_run(client, url, messages, coroutines, batch))
        except Exception as failed:  # the other client still gives the floor
            print(f"floor with {client}: broke off ({type(failed).__name__}: {failed}); not counted", flush=True)
    if not rates:
        raise RuntimeError("no floor: every client's run broke off")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--client", default="aiohttp,httpx")
    parser.add_argument("--coroutines", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    proc, url = start_sink()
    try:
        rates = floor(url, args.messages, args.client.split(","), args.coroutines, args.batch)
    finally:
        proc.kill()
        proc.wait()
    for client, rate in rates.items():
        print(f"floor with {client}: {rate:.0f} msg/s ({args.messages} messages, {args.coroutines} coroutines)")


if __name__ == "__main__":
    main()
