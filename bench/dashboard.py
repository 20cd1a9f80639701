"""The manager's dashboard on the scale data set: the page's p95 at 1,000,000 messages.

    python bench/dashboard.py                                   # 100,000 conversations, 1,000,000 messages
    python bench/dashboard.py --conversations 20000 --messages 200000 --samples 10   # a quicker run
    python bench/dashboard.py --reuse                           # time again on the database already built

Builds bench/scale.py's data set (the same set-based SQL: messages over a year, ten sellers in two teams) in
its own PostgreSQL database, then gives it what the dashboard reads: the seller who owns each number as the
author of its outbound messages, one outbound message in thirty failed (a few reasons), and an opt-out for one
conversation in a hundred. It then times the dashboard page, as a manager, in process (Django's test client:
the view, its queries and the template, no HTTP), for the default period (30 days), 90 days, and 30 days of one
team. Timings drift on a shared machine: compare within one run. Ends with one line:
    dashboard: messages <n>, page p95 <ms>
(the page p95 is the default view's). Needs: PostgreSQL on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from inbound import BIN, PG_ADMIN, django_setup, log, pct  # noqa: E402
from scale import build, seed_organisation  # noqa: E402

DATABASE = "td_compliance2_dashboard"


def enrich(cursor, conversations: int) -> None:
    """Authors, failures and opt-outs on top of the scale data set, set-based."""
    statements = [
        "UPDATE messaging_message m SET author_id = COALESCE(n.owner_user_id, "
        "(SELECT min(user_id) FROM org_team_members t WHERE t.team_id = n.owner_team_id)) "
        "FROM messaging_sendernumber n WHERE m.direction = 'outbound' AND n.id = m.sender_number_id",
        "UPDATE messaging_message SET status = 'failed', failure_reason = (ARRAY['RecipientOptedOut', "
        "'InvalidNumber', 'CarrierRejected', 'Unreachable'])[1 + id % 4], failure_permanent = true "
        "WHERE direction = 'outbound' AND id % 30 = 1",
        "INSERT INTO messaging_consentevent (customer_e164, scope, action, source, detail, at) "
        "SELECT c.customer_e164, n.e164, 'opt_out', 'keyword', 'STOP', c.last_message_at "
        "FROM messaging_conversation c JOIN messaging_sendernumber n ON n.id = c.sender_number_id "
        f"WHERE c.id % 100 = 7 AND c.id <= {conversations}",
    ]
    for statement in statements:
        started = time.perf_counter()
        cursor.execute(statement)
        log(f"  {statement[:48]:<48} {time.perf_counter() - started:6.1f}s")


def build_database(args, db_url: str, env: dict) -> None:
    import subprocess

    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    subprocess.run([str(BIN / "textdesk"), "migrate", "-v0"], env=env, check=True)
    django_setup(env)
    org = seed_organisation()
    log(f"[PostgreSQL] building {args.conversations:,} conversations, {args.messages:,} messages")
    with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN "
            "('messaging_message', 'messaging_conversation') AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")
        build(cursor, org, args.conversations, args.messages)
        enrich(cursor, args.conversations)
        cursor.execute("SET session_replication_role = DEFAULT")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("VACUUM (ANALYZE) messaging_conversation, messaging_message, messaging_consentevent")


def time_page(client, params: dict, samples: int) -> list[float]:
    client.get("/compliance/dashboard/", params)  # warm: templates, plans, caches
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get("/compliance/dashboard/", params)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"dashboard answered {response.status_code}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20, help="timed page loads per case")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--reuse", action="store_true", help="time the database already built")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()
    db_url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    env = dict(
        os.environ,
        TEXTDESK_DATABASE_URL=db_url,
        TEXTDESK_DATA_DIR=tempfile.mkdtemp(prefix="textdesk-dashboard-"),
        TEXTDESK_SECRET_KEY="bench-secret-key",
        TEXTDESK_LOG_LEVEL="WARNING",
        TEXTDESK_ALLOWED_HOSTS="*",
        DJANGO_SETTINGS_MODULE="textdesk.settings",
    )
    if args.reuse:
        django_setup(env)
    else:
        started = time.perf_counter()
        build_database(args, db_url, env)
        log(f"  built in {time.perf_counter() - started:.0f}s")

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from textdesk.messaging.models import Message
    from textdesk.org import roles
    from textdesk.org.models import Team, User

    manager, _ = User.objects.get_or_create(username="dashboard-manager")
    manager.groups.add(Group.objects.get(name=roles.SALES_MANAGER))
    client = Client()
    client.force_login(manager)
    total = Message.objects.count()
    north = Team.objects.get(name="North").pk
    cases = {"30 days": {}, "90 days": {"days": 90}, "30 days, one team": {"team": north}}
    results = {}
    for label, params in cases.items():
        timings = time_page(client, params, args.samples)
        results[label] = timings
        log(f"  {label:<20} p50 {statistics.median(timings):8.1f} ms   p95 {pct(timings, 95):8.1f} ms")
    connection.close()
    if args.drop:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    print(f"dashboard: messages {total}, page p95 {pct(results['30 days'], 95):.0f} ms")


if __name__ == "__main__":
    main()
