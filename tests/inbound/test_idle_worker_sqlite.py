"""On SQLite an idle worker pass takes no write lock, so webhooks never wait behind a worker with nothing to do."""

from __future__ import annotations

import sqlite3

import pytest


@pytest.mark.django_db(transaction=True)
def test_an_idle_pass_claims_nothing_without_asking_for_the_write_lock():
    from django.db import connection

    from textdesk.jobs import queue
    from textdesk.messaging.inbound.router import route_batch

    if connection.vendor != "sqlite":
        pytest.skip("the write lock is SQLite's")
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 100")  # asking for the lock would fail fast, not wait 20 s
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # someone else (a webhook) is writing
        assert route_batch() == 0
        assert queue.claim("idle-test") == []
    finally:
        other.execute("ROLLBACK")
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 20000")
