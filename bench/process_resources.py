"""What a running process holds: threads, resident memory, and its TCP connections to Redis and PostgreSQL (read
from /proc, Linux). Used by bench/live.py and by the test that many live streams stay within bounds."""

from __future__ import annotations

import os
import re
from pathlib import Path

REDIS_PORT, POSTGRES_PORT = 6379, 5432


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def process_resources(pid: int, redis_port: int = REDIS_PORT, postgres_port: int = POSTGRES_PORT) -> dict[str, int]:
    """Threads and resident memory of process ``pid``, and its established TCP connections to Redis and to
    PostgreSQL (told apart by the server's port)."""
    threads = len(os.listdir(f"/proc/{pid}/task"))
    inodes = _socket_inodes(pid)
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
    counts = {"threads": threads, "redis": 0, "postgres": 0, "sockets": len(inodes), "rss_mb": rss_kb // 1024}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if state != "01" or inode not in inodes:  # 01: ESTABLISHED
                continue
            if remote_port == redis_port:
                counts["redis"] += 1
            elif remote_port == postgres_port:
                counts["postgres"] += 1
    return counts


def describe(counts: dict[str, int]) -> str:
    return (
        f"{counts['threads']} threads, {counts['redis']} Redis connections, "
        f"{counts['postgres']} PostgreSQL connections, {counts['rss_mb']} MB resident"
    )
