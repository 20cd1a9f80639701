"""Lost races with the database: retried from the start of the transaction, and the send path's lock order.

Many sends on one sender number while workers take rate-limit slots on the same number used to deadlock on
``messaging_sendernumber`` (the send's insert checks its foreign key with a KEY SHARE lock; the worker took the
number's row FOR UPDATE, which waits for it), and the loser failed: a 500 for the send, or a job failed while its
message stayed *queued*.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import OperationalError, connection, connections

from tests.outbound.helpers import pending_jobs
from textdesk.jobs import retry
from textdesk.jobs.models import Job, JobState
from textdesk.jobs.worker import run_once
from textdesk.messaging.models import Message, SenderNumber
from textdesk.messaging.outbound.send import send_message

pytestmark = pytest.mark.django_db(transaction=True)


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_many_sends_on_one_number_while_workers_send_neither_deadlock_nor_lose_a_message(setup, is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: row locks between concurrent transactions")
    SenderNumber.objects.filter(pk=setup.number.pk).update(rate_per_second=100000)
    senders, per_sender, errors = 6, 15, []
    before = _deadlocks()
    sending = threading.Event()

    def send(i: int) -> None:
        try:
            for n in range(per_sender):
                send_message(
                    user=setup.user,
                    record=setup.contact,
                    sender_number=setup.number,
                    to_number=setup.to,
                    body=f"{i}/{n}",
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def work(name: str) -> None:
        try:
            stop = time.monotonic() + 90
            while time.monotonic() < stop and (sending.is_set() or pending_jobs().exists()):
                if not run_once(name):
                    time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    sending.set()
    workers = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    clients = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for t in workers + clients:
        t.start()
    for t in clients:
        t.join()
    sending.clear()
    for t in workers:
        t.join()

    assert errors == []
    total = senders * per_sender
    assert Message.objects.count() == total
    assert Job.objects.filter(state=JobState.FAILED).count() == 0
    assert not Message.objects.filter(
        status__in=["queued", "scheduled", "sending"], provider_message_id__isnull=True
    ).exists()
    sent = Counter(r.reference for r in setup.gateway.requests)
    assert len(sent) == total and set(sent.values()) == {1}
    assert _deadlocks() == before  # the lock order leaves no cycle to break


def test_a_transaction_that_loses_a_deadlock_runs_again_from_its_start(db, is_postgres, django_db_blocker):
    """Two transactions lock two rows in opposite orders: PostgreSQL ends one with a deadlock; it runs again."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL: a real deadlock")
    from textdesk.org.models import Team

    a, b = Team.objects.create(name="A").pk, Team.objects.create(name="B").pk
    both_locked_first = threading.Barrier(2, timeout=10)
    runs: Counter = Counter()
    errors: list = []

    def lock(first: int, second: int, name: str) -> None:
        def body(attempt: int) -> None:
            runs[name] += 1
            Team.objects.select_for_update().get(pk=first)
            if attempt == 1:
                both_locked_first.wait()
            Team.objects.select_for_update().get(pk=second)
            Team.objects.filter(pk=first).update(name=f"{name}{attempt}")

        try:
            retry.in_transaction(body)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=lock, args=(a, b, "x")), threading.Thread(target=lock, args=(b, a, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(runs.values()) == [1, 2]  # one ran once, the deadlock's loser ran again from its start


def test_a_busy_database_runs_the_transaction_again_and_any_other_error_goes_up_at_once(db):
    """SQLite's busy lock (and PostgreSQL's lost races) roll the try back whole; the next try starts clean."""
    from textdesk.org.models import Team

    tries: Counter = Counter()

    def busy_once(attempt: int) -> int:
        tries["busy"] += 1
        Team.objects.create(name=f"try {attempt}")
        if attempt == 1:
            raise OperationalError("database is locked")
        return attempt

    assert retry.in_transaction(busy_once) == 2
    assert list(Team.objects.filter(name__startswith="try").values_list("name", flat=True)) == ["try 2"]

    def broken(attempt: int) -> None:
        tries["broken"] += 1
        raise OperationalError("no such table: nowhere")

    with pytest.raises(OperationalError):
        retry.in_transaction(broken)
    assert tries == {"busy": 2, "broken": 1}
    assert not retry.lost_race(ValueError("deadlock detected"))
