from __future__ import annotations

from django.utils import timezone

from textdesk.jobs.models import Job, JobState


def drain(worker_id: str = "test-worker", advance: bool = True, limit: int = 50) -> int:
    """Run every due send job; with ``advance``, jobs rescheduled for later are made due (time passes)."""
    from textdesk.jobs.worker import run_once

    handled = 0
    for _ in range(limit):
        done = run_once(worker_id)
        handled += done
        if not done:
            if not advance or not pending_jobs().exists():
                break
            pending_jobs().update(run_at=timezone.now())
    return handled


def pending_jobs():
    return Job.objects.filter(kind="send_message", state=JobState.PENDING)


def reserved_slots(sender_number_id: int) -> list:
    """The rate-limit slots handed out to a number's send attempts, in order (from the message history)."""
    from textdesk.messaging.models import MessageEvent
    from textdesk.messaging.outbound.dispatch import slot_of

    details = MessageEvent.objects.filter(
        message__sender_number_id=sender_number_id, status="sending", detail__contains="slot="
    ).values_list("detail", flat=True)
    return sorted(slot_of(d) for d in details)


def assert_slots_respect_rate(slots: list, rate: int) -> None:
    """No more than ``rate`` slots in any one-second window: slot i and slot i+rate are a second apart."""
    import datetime as dt

    assert len(set(slots)) == len(slots)
    for earlier, later in zip(slots, slots[rate:]):
        assert later - earlier >= dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)
