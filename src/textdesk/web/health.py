"""``/healthz``: what a load balancer or an operator asks a web process.

200 when the database answers (this process can serve), 503 otherwise. The body reports each dependency on its
own: the database, Redis (live updates and wake-ups degrade without it, nothing else stops), and every worker's
last heartbeat (a worker writes one every few seconds while it runs: see ``jobs/supervisor.py``).
"""

from __future__ import annotations

import datetime as dt

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone

# Workers silent for longer than this are left out of the report (stopped for good, or renamed).
FORGOTTEN_AFTER = dt.timedelta(days=1)


def _database() -> str | None:
    """None when the database answers, else why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return str(exc)[:200]
    return None


def _workers(now: dt.datetime) -> list[dict]:
    from textdesk.jobs.models import WorkerHeartbeat
    from textdesk.jobs.supervisor import STALE_SECONDS

    rows = WorkerHeartbeat.objects.filter(beat_at__gte=now - FORGOTTEN_AFTER).order_by("name")
    report = []
    for row in rows:
        age = max(0.0, (now - row.beat_at).total_seconds())
        report.append(
            {
                "name": row.name,
                "alive": age <= STALE_SECONDS,
                "last_heartbeat": row.beat_at.isoformat(),
                "seconds_since_heartbeat": round(age, 1),
                "restarts": row.restarts,
            }
        )
    return report


def healthz(request):
    from textdesk.live import bus

    problem = _database()
    body: dict = {"status": "ok" if problem is None else "unavailable"}
    body["database"] = "ok" if problem is None else problem
    body["redis"] = bus.get_bus().health()
    if problem is None:
        try:
            workers = _workers(timezone.now())
        except DatabaseError:
            workers = None
        if workers is not None:
            body["workers"] = workers
            body["workers_alive"] = sum(1 for worker in workers if worker["alive"])
    return JsonResponse(body, status=200 if problem is None else 503)
