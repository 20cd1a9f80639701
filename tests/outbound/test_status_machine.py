"""The outbound status machine: the table of allowed moves (pure), and the one writer that follows it."""

from __future__ import annotations

import pytest

from tests.outbound.helpers import drain
from textdesk.domain import status as st
from textdesk.live import bus
from textdesk.messaging.models import Message, MessageEvent, Notification
from textdesk.messaging.outbound.send import send_message
from textdesk.messaging.outbound.transition import transition

# ---------------------------------------------------------------- the table (no database)


def test_every_outbound_status_has_a_row_and_every_move_stays_inside_the_outbound_statuses():
    assert set(st.TRANSITIONS) == set(st.OUTBOUND_STATES)
    for targets in st.TRANSITIONS.values():
        assert targets <= set(st.OUTBOUND_STATES)


def test_a_final_status_is_never_left():
    for final in st.FINAL_STATES:
        assert not any(st.may_transition(final, target) for target in st.OUTBOUND_STATES)


def test_the_only_step_backwards_is_a_retry_from_sending_to_queued():
    rank = {s: i for i, s in enumerate([st.SCHEDULED, st.QUEUED, st.SENDING, st.UNKNOWN, st.SENT, st.NO_REPORT])}
    backwards = [
        (source, target)
        for source, targets in st.TRANSITIONS.items()
        for target in targets
        if source in rank and target in rank and rank[target] < rank[source]
    ]
    assert backwards == [(st.SENDING, st.QUEUED)]


def test_no_delivery_report_comes_after_an_acceptance_and_a_late_report_still_applies():
    assert st.may_transition(st.SENT, st.NO_REPORT) and st.may_transition(st.SENDING, st.NO_REPORT)
    assert not st.may_transition(st.QUEUED, st.NO_REPORT) and not st.may_transition(st.UNKNOWN, st.NO_REPORT)
    assert {t for t in st.OUTBOUND_STATES if st.may_transition(st.NO_REPORT, t)} == {
        st.DELIVERED,
        st.UNDELIVERED,
        st.FAILED,
    }
    assert not st.is_final(st.NO_REPORT)
    assert st.should_apply(st.NO_REPORT, st.DELIVERED) and not st.should_apply(st.NO_REPORT, st.SENT)


def test_a_message_not_yet_handed_over_cannot_be_reported_sent_or_delivered():
    for early in (st.SCHEDULED, st.QUEUED):
        assert not st.may_transition(early, st.SENT) and not st.may_transition(early, st.DELIVERED)
    assert not st.may_transition(st.QUEUED, None)


# ---------------------------------------------------------------- the writer (database)


def _send(s):
    return send_message(user=s.user, record=s.contact, sender_number=s.number, to_number=s.to, body="Hello")


@pytest.mark.django_db
def test_a_refused_step_writes_nothing_and_an_allowed_one_writes_status_history_and_summary(setup):
    message = _send(setup)
    assert transition(message, st.DELIVERED) is None  # queued -> delivered is not a move of the machine
    message.refresh_from_db()
    assert message.status == st.QUEUED and message.events.count() == 1
    assert transition(message, st.SENDING, detail="attempt 1") is not None
    message.refresh_from_db()
    assert message.status == st.SENDING
    assert list(message.events.values_list("status", flat=True)) == [st.QUEUED, st.SENDING]
    assert message.conversation.__class__.objects.get(pk=message.conversation_id).last_status == st.SENDING


@pytest.mark.django_db
def test_a_retry_cannot_take_a_message_back_to_queued_once_the_provider_answered(setup):
    message = _send(setup)
    drain()
    message.refresh_from_db()
    assert message.provider_message_id and message.status == st.SENDING
    assert transition(message, st.QUEUED, expect={st.SENDING}, where={"provider_message_id__isnull": True}) is None
    delivered = Message.objects.get(pk=message.pk)
    assert transition(delivered, st.DELIVERED) is not None
    assert transition(delivered, st.QUEUED) is None
    assert Message.objects.get(pk=message.pk).status == st.DELIVERED


@pytest.mark.django_db
def test_a_failed_send_tells_the_author_and_moves_the_bell_badge(setup, django_capture_on_commit_callbacks):
    setup.gateway.script(setup.to, ("error", "30006", "Landline or unreachable carrier"))
    Notification.objects.create(user=setup.user, kind="send_failed", title="an older notice")
    message = _send(setup)
    with bus.get_bus().subscribe([bus.user_channel(setup.user.pk)]) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            drain()
        events = []
        while (got := sub.get(timeout=0.2)) is not None:
            events.append(got[1])
    message.refresh_from_db()
    assert message.status == st.FAILED
    notices = [e for e in events if e["event"] == "notification.new"]
    assert len(notices) == 1 and notices[0]["unread"] == 2 and notices[0]["message_id"] == message.pk
    assert {"event": "message.status", "status": st.FAILED}.items() <= [
        e for e in events if e["event"] == "message.status"
    ][-1].items()
    assert Notification.objects.filter(user=setup.user, message=message).count() == 1
    assert MessageEvent.objects.filter(message=message, status=st.FAILED).count() == 1
