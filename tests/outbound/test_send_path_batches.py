"""The send path in batches: few round trips per message, lanes per sender number run in parallel threads,
and every guarantee of a single worker still holds."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.outbound.helpers import assert_slots_respect_rate, drain, pending_jobs, reserved_slots
from textdesk.jobs import queue
from textdesk.jobs.models import Job, JobState
from textdesk.jobs.worker import Worker, run_once
from textdesk.messaging.models import Message, MessageEvent
from textdesk.messaging.outbound import dispatch
from textdesk.messaging.outbound.send import send_message


def _queue(setup, count: int, numbers: list | None = None, to: str | None = None) -> list[Message]:
    numbers = numbers or [setup.number]
    return [
        send_message(
            user=setup.user,
            record=setup.contact,
            sender_number=numbers[i % len(numbers)],
            to_number=to or setup.to,
            body=f"message {i}",
        )
        for i in range(count)
    ]


def _numbers(setup, make_sender_number, count: int, rate: float = 1000) -> list:
    return [setup.number] + [
        make_sender_number(f"+1415555020{i}", owner=setup.user, provider_account=setup.account, rate_per_second=rate)
        for i in range(1, count)
    ]


@pytest.mark.django_db
def test_a_batch_needs_few_queries_per_message(setup, make_sender_number):
    """A regression guard on round trips: claim and load once per batch, then two short transactions each."""
    run_once("w")  # the worker's due housekeeping (sweeps, retention) runs now, not inside the measured pass
    _queue(setup, 10, _numbers(setup, make_sender_number, 2))
    with CaptureQueriesContext(connection) as captured:
        assert run_once("w") == 10
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT"))
    ]
    assert Message.objects.filter(provider_message_id__isnull=False).count() == 10
    # Per message: slot (2), opt-out, take, history, conversation; answer, history, reports waiting, job.
    assert len(statements) <= 110, "\n".join(statements)
    assert not Job.objects.filter(state=JobState.PENDING).exists()


@pytest.mark.django_db
def test_the_job_ends_in_the_same_commit_as_the_answer(setup):
    (message,) = _queue(setup, 1)
    job = Job.objects.get(kind="send_message", payload__message_id=message.pk)
    [claimed] = queue.claim("w")
    queue.prepare([claimed])
    dispatch.handle_send_job(claimed)
    assert claimed.completed  # marked done by the handler, with the provider's id
    job.refresh_from_db()
    message.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 1 and message.provider_message_id


@pytest.mark.django_db
def test_a_batch_is_split_into_one_lane_per_sender_number_in_order(setup, make_sender_number):
    numbers = _numbers(setup, make_sender_number, 3)
    messages = _queue(setup, 9, numbers)
    jobs = queue.claim("w", limit=20)
    queue.prepare(jobs)
    lanes = queue.lanes(jobs)
    assert len(lanes) == 3
    by_id = {m.pk: m for m in messages}
    for lane in lanes:
        lane_numbers = {by_id[int(j.payload["message_id"])].sender_number_id for j in lane}
        assert len(lane_numbers) == 1
        assert [j.pk for j in lane] == sorted(j.pk for j in lane)


@pytest.mark.django_db
def test_a_stale_batch_copy_never_sends_a_message_again(setup):
    """The batch's copy of a message says ``queued`` but another worker has sent it meanwhile."""
    (message,) = _queue(setup, 1)
    [claimed] = queue.claim("w")
    queue.prepare([claimed])
    dispatch.deliver(message.pk)  # another worker, with its own (duplicate) job
    dispatch.handle_send_job(claimed)
    assert len(setup.gateway.sends_to(setup.to)) == 1
    assert Message.objects.get(pk=message.pk).attempts == 1


@pytest.mark.django_db
def test_a_retry_tells_the_provider_when_the_first_attempt_was_made(setup):
    from textdesk.messaging.models import ProviderAccount

    ProviderAccount.objects.filter(pk=setup.account.pk).update(kind="fake_idem")
    setup.gateway.script(setup.to, "503", "ok")
    (message,) = _queue(setup, 1)
    drain()
    first, second = setup.gateway.sends_to(setup.to)
    first_event = MessageEvent.objects.filter(message=message, status="sending").order_by("at", "id").first()
    assert first.first_attempted_at == second.first_attempted_at  # the same moment on every attempt
    assert dt.datetime.fromisoformat(second.first_attempted_at) == first_event.at
    assert dispatch._outbound(Message.objects.get(pk=message.pk)).first_attempted_at == first_event.at


@pytest.mark.django_db
def test_decrypted_account_configs_are_cached_but_follow_changes(setup):
    from textdesk.messaging.models import ProviderAccount

    account = ProviderAccount.objects.get(pk=setup.account.pk)
    first = dispatch.account_config(account)
    assert dispatch.account_config(ProviderAccount.objects.get(pk=account.pk)) is first
    account.credentials = {"token": "rotated"}
    account.save()
    changed = dispatch.account_config(ProviderAccount.objects.get(pk=account.pk))
    assert changed is not first and changed.credentials["token"] == "rotated"


# ---------------------------------------------------------------- threads, each with its own connection


def _drain_with_pool(threads: int, workers: int = 1, give_up_after: float = 60.0) -> list[BaseException]:
    errors: list[BaseException] = []

    def work(name: str) -> None:
        pool = ThreadPoolExecutor(threads)
        try:
            stop = time.monotonic() + give_up_after
            while time.monotonic() < stop and pending_jobs().exists():
                if not run_once(name, pool=pool):
                    time.sleep(0.02)
        except BaseException as exc:
            errors.append(exc)
        finally:
            from textdesk.jobs.worker import _close_thread_connections

            _close_thread_connections(pool, threads)
            pool.shutdown()
            connection.close()

    runners = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(workers)]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_threads_send_every_message_exactly_once(setup, make_sender_number):
    numbers = _numbers(setup, make_sender_number, 4)
    messages = _queue(setup, 32, numbers)
    for m in messages:  # and a duplicate job for every message
        queue.enqueue("send_message", {"message_id": m.pk})
    assert _drain_with_pool(threads=4, workers=2) == []
    per_reference = Counter(r.reference for r in setup.gateway.requests)
    assert sorted(per_reference) == sorted(str(m.pk) for m in messages)
    assert set(per_reference.values()) == {1}
    assert Message.objects.filter(attempts=1, provider_message_id__isnull=False).count() == 32


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_threads_and_workers(setup, make_sender_number):
    numbers = _numbers(setup, make_sender_number, 2, rate=4)
    for n in numbers:
        n.rate_per_second = 4
        n.save()
    _queue(setup, 16, numbers)
    assert _drain_with_pool(threads=3, workers=2) == []
    assert len(setup.gateway.requests) == 16
    for n in numbers:
        slots = reserved_slots(n.pk)
        assert len(slots) == 8
        assert_slots_respect_rate(slots, 4)


@pytest.mark.django_db(transaction=True)
def test_a_threaded_worker_drains_the_queue_and_closes_its_connections(setup, make_sender_number):
    numbers = _numbers(setup, make_sender_number, 3)
    messages = _queue(setup, 12, numbers)
    worker = Worker(name="threaded", threads=3, idle_wait=0.05)
    thread = worker.start_in_thread()
    try:
        stop = time.monotonic() + 60
        while time.monotonic() < stop and pending_jobs().exists():
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()
    assert Message.objects.filter(pk__in=[m.pk for m in messages], provider_message_id__isnull=False).count() == 12
    assert len(setup.gateway.requests) == 12
