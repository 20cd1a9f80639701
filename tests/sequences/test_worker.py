"""The scheduler runs in the queue worker: due steps advance by themselves, once, with reasons when they fail."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.utils import timezone

from textdesk.jobs import worker
from textdesk.sequences import actions
from textdesk.sequences.models import SequenceConnection


def _reload(pk):
    return SequenceConnection.objects.select_related("current_step").get(pk=pk)


@pytest.fixture(autouse=True)
def _handlers():
    worker.load_handlers()


@pytest.mark.django_db
def test_wait_step_advances_by_itself_in_the_worker(seller, make_record, make_sequence):
    sequence = make_sequence("wait", "email", wait=dt.timedelta(minutes=2))
    record = make_record("contact", seller)
    # Connected ten minutes ago (controlled clock): the two-minute wait is over.
    past = timezone.now() - dt.timedelta(minutes=10)
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=past)
    assert _reload(result.connection_id).current_step.kind == "wait"

    assert worker.run_once("worker-a") == 1
    conn = _reload(result.connection_id)
    assert conn.current_step.kind == "email" and conn.state == "active"
    [wait_done] = conn.history.all()
    assert wait_done.step_kind == "wait" and wait_done.outcome == "completed" and wait_done.by is None
    # A restarted worker finds nothing more to do for this record.
    assert worker.run_once("worker-b") == 0


@pytest.mark.django_db
def test_a_wait_not_over_yet_is_left_alone(seller, make_record, make_sequence):
    from textdesk.jobs.models import Job

    sequence = make_sequence("wait", "email", wait=dt.timedelta(days=1))
    record = make_record("contact", seller)
    [result] = actions.connect(seller, sequence.pk, [record.record_key])
    assert worker.run_once("worker-a") == 0
    assert _reload(result.connection_id).current_step.kind == "wait"
    assert Job.objects.get(kind=actions.RUN_STEP_JOB).state == "pending"


@pytest.mark.django_db
def test_automated_step_without_a_valid_number_fails_with_its_reason_and_notifies_the_owner(
    seller, make_record, make_sequence, make_sender_number
):
    from textdesk.messaging.models import Message, Notification

    make_sender_number(owner=seller)
    sequence = make_sequence("text_automated", "call")
    record = make_record("contact", seller, mobile_phone="555", business_phone="")
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=timezone.now() - dt.timedelta(seconds=1))
    assert worker.run_once("worker-a") == 1
    conn = _reload(result.connection_id)
    assert conn.state == "failed" and conn.failure_reason == "InvalidSendingParameters"
    assert conn.current_step.kind == "text_automated"  # it stays on the step until a seller acts
    [history] = conn.history.all()
    assert history.outcome == "failed" and "InvalidSendingParameters" in history.detail
    [note] = Notification.objects.filter(user=seller)
    assert note.kind == "sequence_step_failed" and str(record) in note.title
    assert Message.objects.count() == 0
    # The failed record still shows in the work list, and skipping moves it on.
    from textdesk.sequences.queries import work_list

    assert [c.pk for c in work_list(seller)] == [conn.pk]
    actions.skip_step(seller, conn.pk, conn.current_step_id)
    conn = _reload(conn.pk)
    assert conn.state == "active" and conn.current_step.kind == "call" and conn.failure_reason == ""


@pytest.mark.django_db
def test_automated_step_without_a_sender_number_fails_and_notifies_every_member_of_the_owning_team(
    seller, make_user, make_team, make_record, make_sequence
):
    from textdesk.messaging.models import Notification

    colleague = make_user("colleague")
    team = make_team("Desk", members=[seller, colleague])
    sequence = make_sequence("text_automated")
    record = make_record("lead", team, mobile_phone="+14155550177")
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=timezone.now() - dt.timedelta(seconds=1))
    worker.run_once("worker-a")
    conn = _reload(result.connection_id)
    assert conn.state == "failed" and conn.failure_reason == "NoSenderNumber"
    assert sorted(Notification.objects.values_list("user_id", flat=True)) == sorted([seller.pk, colleague.pk])


@pytest.mark.django_db
def test_the_owner_is_told_live_with_their_unread_count(
    seller, make_record, make_sequence, django_capture_on_commit_callbacks
):
    from textdesk.live import bus

    sequence = make_sequence("text_automated")
    record = make_record("contact", seller)  # no phone: the step fails
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=timezone.now() - dt.timedelta(seconds=1))
    with bus.get_bus().subscribe([bus.user_channel(seller.pk)]) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            actions.run_due_step(
                result.connection_id,
                _reload(result.connection_id).current_step_id,
                _reload(result.connection_id).attempt,
            )
        events = [sub.get(timeout=1)[1] for _ in range(2)]
    by_name = {e["event"]: e for e in events}
    assert by_name["notification.new"]["unread"] == 1
    assert by_name["sequence.changed"]["state"] == "failed"
    assert by_name["sequence.changed"]["failure_reason"] == "InvalidSendingParameters"


@pytest.mark.django_db
def test_retrying_a_failed_step_schedules_it_again(seller, make_record, make_sequence):
    from textdesk.jobs.models import Job

    sequence = make_sequence("text_automated")
    record = make_record("contact", seller)
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=timezone.now() - dt.timedelta(seconds=1))
    worker.run_once("worker-a")
    assert _reload(result.connection_id).state == "failed"
    actions.retry_step(seller, result.connection_id)
    assert Job.objects.filter(kind=actions.RUN_STEP_JOB, state="pending").count() == 1
    worker.run_once("worker-a")
    conn = _reload(result.connection_id)
    assert conn.state == "failed" and conn.history.filter(outcome="failed").count() == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_run_one_step_twice(is_postgres, seller, make_record, make_sequence):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: concurrent workers claim with SKIP LOCKED")
    from django.db import connection as db

    sequence = make_sequence("wait", "call", wait=dt.timedelta(seconds=1))
    keys = [make_record("contact", seller, last_name=f"C{i}").record_key for i in range(40)]
    results = actions.connect(seller, sequence.pk, keys, now=timezone.now() - dt.timedelta(minutes=1))
    start = threading.Barrier(3)

    def drain(name):
        start.wait()
        try:
            while worker.run_once(name):
                pass
        finally:
            db.close()

    threads = [threading.Thread(target=drain, args=(f"worker-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        conn = _reload(r.connection_id)
        assert conn.current_step.kind == "call"
        assert conn.history.filter(step_kind="wait").count() == 1
