"""A long message the provider tracks in parts (one id and one delivery report per part, as Vonage's SMS API):
every part's report finds the message, and the message is delivered only when every part is."""

from __future__ import annotations

import datetime as dt

import pytest

from textdesk.domain import status as st
from textdesk.messaging.models import Message, MessagePart, UnmatchedStatusUpdate
from textdesk.messaging.outbound import dispatch
from textdesk.messaging.outbound.reports import apply_status_report
from textdesk.messaging.outbound.send import send_message
from textdesk.providers import registry
from textdesk.providers.base import SendResult, StatusReport

PARTS = ("P-1", "P-2", "P-3")


def test_parts_combine_to_the_least_advanced_unless_one_failed():
    assert st.combine_parts([]) is None
    assert st.combine_parts([st.DELIVERED, st.DELIVERED]) == st.DELIVERED
    assert st.combine_parts([st.DELIVERED, st.SENT, st.QUEUED]) == st.QUEUED
    assert st.combine_parts([st.DELIVERED, st.SENT]) == st.SENT
    assert st.combine_parts([st.DELIVERED, st.UNDELIVERED, st.SENT]) == st.UNDELIVERED
    assert st.combine_parts([st.UNDELIVERED, st.FAILED]) == st.FAILED


def _sent_in_parts(setup, part_ids=PARTS) -> Message:
    message = send_message(
        user=setup.user, record=setup.contact, sender_number=setup.number, to_number=setup.to, body="A long text " * 30
    )
    dispatch._mark_sending(message)
    dispatch._record_success(
        message,
        SendResult(
            provider_message_id=part_ids[0],
            status=st.QUEUED,
            provider_status="0",
            segments=len(part_ids),
            part_ids=part_ids,
        ),
        registry.get_provider(setup.account.kind),
    )
    return Message.objects.get(pk=message.pk)


def _report(pid: str, status: str | None, provider_status: str, **kw) -> StatusReport:
    return StatusReport(provider_message_id=pid, provider_status=provider_status, status=status, **kw)


@pytest.mark.django_db
def test_every_part_id_is_kept_and_the_message_is_delivered_only_when_every_part_is(setup):
    message = _sent_in_parts(setup)
    assert list(MessagePart.objects.filter(message=message).values_list("provider_message_id", "number")) == [
        ("P-1", 1),
        ("P-2", 2),
        ("P-3", 3),
    ]
    assert message.segments == 3 and message.provider_message_id == "P-1"

    assert apply_status_report(setup.account, _report("P-1", st.DELIVERED, "delivered")).pk == message.pk
    message.refresh_from_db()
    assert message.status == st.SENDING  # parts 2 and 3 have no news yet
    assert apply_status_report(setup.account, _report("P-3", st.DELIVERED, "delivered")).pk == message.pk
    apply_status_report(setup.account, _report("P-2", st.SENT, "accepted"))
    message.refresh_from_db()
    assert message.status == st.SENT
    apply_status_report(setup.account, _report("P-2", st.DELIVERED, "delivered"))
    message.refresh_from_db()
    assert message.status == st.DELIVERED and message.delivered_at is not None
    details = list(message.events.filter(detail__startswith="part").values_list("detail", flat=True))
    assert details == ["part 1", "part 3", "part 2", "part 2"]


@pytest.mark.django_db
def test_one_undelivered_part_makes_the_message_undelivered_for_good(setup):
    message = _sent_in_parts(setup)
    apply_status_report(setup.account, _report("P-1", st.DELIVERED, "delivered"))
    apply_status_report(
        setup.account,
        _report(
            "P-2", st.UNDELIVERED, "failed", error_code="6", error_text="anti-spam", failure_reason="CarrierFiltered"
        ),
    )
    message.refresh_from_db()
    assert message.status == st.UNDELIVERED
    assert (message.failure_reason, message.provider_error_code) == ("CarrierFiltered", "6")
    apply_status_report(setup.account, _report("P-3", st.DELIVERED, "delivered"))
    message.refresh_from_db()
    assert message.status == st.UNDELIVERED


@pytest.mark.django_db
def test_a_part_report_that_arrives_before_the_send_is_recorded_is_applied_then(setup):
    assert apply_status_report(setup.account, _report("P-2", st.DELIVERED, "delivered")) is None
    assert UnmatchedStatusUpdate.objects.filter(provider_message_id="P-2").exists()
    message = _sent_in_parts(setup)
    assert not UnmatchedStatusUpdate.objects.exists()
    assert MessagePart.objects.get(provider_message_id="P-2").status == st.DELIVERED
    assert message.status == st.SENDING
    for pid in ("P-1", "P-3"):
        apply_status_report(setup.account, _report(pid, st.DELIVERED, "delivered"))
    message.refresh_from_db()
    assert message.status == st.DELIVERED


@pytest.mark.django_db
def test_a_one_part_message_keeps_no_parts(setup):
    message = _sent_in_parts(setup, part_ids=("ONLY-1",))
    assert not MessagePart.objects.exists()
    apply_status_report(setup.account, _report("ONLY-1", st.DELIVERED, "delivered"))
    message.refresh_from_db()
    assert message.status == st.DELIVERED


@pytest.mark.django_db
def test_a_buffered_report_keeps_its_reference_and_time(setup):
    """A report buffered before the send is recorded keeps every field, the time included (issue c')."""
    from textdesk.messaging.outbound.reports import _report_from_json

    occurred = dt.datetime(2026, 3, 10, 14, 5, 7, 123000, tzinfo=dt.UTC)
    report = _report(
        "LATE-1",
        st.DELIVERED,
        "delivered",
        client_reference="4242",
        occurred_at=occurred,
        error_code="0",
        error_text="",
        opt_out=False,
    )
    assert apply_status_report(setup.account, report) is None
    row = UnmatchedStatusUpdate.objects.get(provider_message_id="LATE-1")
    row.refresh_from_db()  # as stored (JSON), not as written
    assert _report_from_json(row.payload) == report
