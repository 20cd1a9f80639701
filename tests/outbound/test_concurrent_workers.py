"""Several workers at once, each with its own database connection: no message sent twice, rates held."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from tests.outbound.helpers import assert_slots_respect_rate, pending_jobs, reserved_slots
from textdesk.jobs import queue
from textdesk.jobs.models import Job
from textdesk.jobs.worker import run_once
from textdesk.messaging.models import Message
from textdesk.messaging.outbound.send import send_message

pytestmark = pytest.mark.django_db(transaction=True)


def _workers(n: int, give_up_after: float = 60.0) -> list[BaseException]:
    """Run ``n`` worker threads until no send job is pending; returns their errors."""
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            stop = time.monotonic() + give_up_after
            while time.monotonic() < stop and pending_jobs().exists():
                if not run_once(name):
                    time.sleep(0.02)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _queue(setup, count: int, duplicate_jobs: bool = False) -> list[Message]:
    messages = []
    for i in range(count):
        m = send_message(
            user=setup.user, record=setup.contact, sender_number=setup.number, to_number=setup.to, body=f"message {i}"
        )
        messages.append(m)
    if duplicate_jobs:
        # A second job for every message, queued after all the first ones: the worker that claims the
        # first batch and the one that claims the next race for the same messages.
        for m in messages:
            queue.enqueue("send_message", {"message_id": m.pk})
    return messages


def test_two_workers_never_send_one_message_twice(setup):
    messages = _queue(setup, 24, duplicate_jobs=True)
    assert _workers(2) == []
    per_reference = Counter(r.reference for r in setup.gateway.requests)
    assert sorted(per_reference) == sorted(str(m.pk) for m in messages)
    assert set(per_reference.values()) == {1}
    ids = list(Message.objects.values_list("provider_message_id", flat=True))
    assert all(ids) and len(set(ids)) == len(ids)
    assert Message.objects.filter(attempts=1).count() == 24
    # Both workers took part (each claims at most 20 jobs at a time, and there were 48).
    assert len(set(Job.objects.values_list("locked_by", flat=True))) == 2


def test_rate_limit_holds_across_workers(setup):
    setup.number.rate_per_second = 4
    setup.number.save()
    _queue(setup, 12)
    assert _workers(3) == []
    times = sorted(r.at for r in setup.gateway.requests)
    assert len(times) == 12
    # Requests per one-second window from the first send: 4 allowed; 1 more of slack for network jitter
    # at a window's edge. Without the limit all 12 would land in the first window.
    buckets = Counter(int(t - times[0]) for t in times)
    assert max(buckets.values()) <= 5
    assert len(buckets) >= 3
    # And exactly, by the slots the workers reserved (recorded in each attempt's history).
    slots = reserved_slots(setup.number.pk)
    assert len(slots) == 12
    assert_slots_respect_rate(slots, 4)


def test_rate_of_a_number_follows_its_type_by_default(setup, make_sender_number):
    from textdesk.messaging.outbound import ratelimit
    from textdesk.org.models import OrganisationSettings

    org = OrganisationSettings.current()
    geo = make_sender_number(provider_account=setup.account, owner=setup.user)
    toll_free = make_sender_number(provider_account=setup.account, owner=setup.user, number_type="toll_free")
    short = make_sender_number(provider_account=setup.account, owner=setup.user, number_type="short_code")
    assert [ratelimit.rate_of(n, org) for n in (geo, toll_free, short)] == [1.0, 3.0, 100.0]
    assert ratelimit.rate_of(setup.number, org) == 1000


def test_concurrent_first_sends_share_one_conversation(setup):
    """Several sellers' first messages to one customer at once: one conversation, every message kept."""
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def first_send(i: int) -> None:
        try:
            barrier.wait()
            send_message(
                user=setup.user,
                record=setup.contact,
                sender_number=setup.number,
                to_number="+5521987654321",
                body=f"hello {i}",
                add_number_to_record=True,
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    from textdesk.messaging.models import Conversation

    assert Conversation.objects.filter(customer_e164="+5521987654321").count() == 1
    assert Message.objects.filter(to_number="+5521987654321").values("conversation").distinct().count() == 1
    assert Message.objects.filter(to_number="+5521987654321").count() == 6
