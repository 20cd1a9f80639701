"""The worker's sweeper: nothing lost, nothing stuck, no message waiting for a delivery report forever."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.outbound.helpers import drain, pending_jobs
from textdesk.domain import failures
from textdesk.domain import status as st
from textdesk.jobs.models import Job, JobState
from textdesk.messaging.models import Message, Notification, ProviderAccount
from textdesk.messaging.outbound import sweeper
from textdesk.messaging.outbound.reports import apply_status_report
from textdesk.messaging.outbound.send import send_message
from textdesk.providers.base import StatusReport

pytestmark = pytest.mark.django_db


def _send(s, body="Hello"):
    return send_message(user=s.user, record=s.contact, sender_number=s.number, to_number=s.to, body=body)


def _age(message, seconds):
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - dt.timedelta(seconds=seconds))


def _history(message):
    return list(message.events.order_by("at", "id").values_list("status", "detail"))


def test_a_queued_message_whose_job_vanished_is_queued_again_and_sent_once(setup):
    message = _send(setup)
    Job.objects.filter(kind="send_message").delete()
    _age(message, 120)
    assert sweeper.sweep() == 1
    assert sweeper.sweep() == 0  # one new job, not one per pass
    drain()
    message.refresh_from_db()
    assert message.provider_message_id and len(setup.gateway.sends_to(setup.to)) == 1


def test_a_message_with_a_live_job_is_left_alone_however_old(setup):
    message = _send(setup)
    pending_jobs().update(run_at=timezone.now() + dt.timedelta(hours=1))  # e.g. waiting for quiet hours to end
    _age(message, 3600)
    assert sweeper.sweep() == 0
    assert Message.objects.get(pk=message.pk).status == st.QUEUED


def test_a_failed_job_leaves_its_queued_message_failed_with_reason_fix_and_notice(setup):
    message = _send(setup)
    pending_jobs().update(state=JobState.FAILED, last_error="RuntimeError('a bug')")
    _age(message, 120)
    assert sweeper.sweep() == 1
    message.refresh_from_db()
    assert message.status == st.FAILED and message.failure_reason == failures.SENDING_STOPPED
    assert "Send it again" in str(failures.describe(message.failure_reason).fix)
    notice = Notification.objects.get(user=setup.user, message=message)
    assert "Send it again" in notice.body
    assert setup.gateway.sends_to(setup.to) == []


def test_a_failed_job_after_an_attempt_was_opened_is_unknown_outcome_never_failed(setup):
    from textdesk.messaging.outbound import dispatch

    message = _send(setup)
    dispatch._mark_sending(message)  # the attempt was opened: it may have reached the provider
    pending_jobs().update(state=JobState.FAILED, last_error="RuntimeError('a bug')")
    _age(message, 120)
    assert sweeper.sweep() == 1
    message.refresh_from_db()
    assert message.status == st.UNKNOWN and message.failure_reason == failures.OUTCOME_UNKNOWN
    assert Notification.objects.filter(user=setup.user, message=message).count() == 1


@override_settings(DELIVERY_REPORT_TIMEOUT=60)
def test_without_a_final_report_in_time_a_message_shows_no_delivery_report_and_a_late_report_still_applies(setup):
    message = _send(setup)
    drain()
    message.refresh_from_db()
    assert message.status == st.SENDING and message.provider_message_id
    _age(message, 30)
    assert sweeper.sweep() == 0  # not late yet
    _age(message, 90)
    assert sweeper.sweep() == 1
    message.refresh_from_db()
    assert message.status == st.NO_REPORT and message.failure_reason == failures.NO_DELIVERY_REPORT
    assert _history(message)[-1][0] == st.NO_REPORT
    assert not Notification.objects.filter(message=message).exists()  # explained in the pane, not a notice

    from textdesk.web.pane import message_views

    (view,) = message_views(message.conversation)
    assert str(view.failure.title) == "No delivery report" and "never reported" in str(view.failure.fix)

    apply_status_report(setup.account, StatusReport(message.provider_message_id, "delivered", st.DELIVERED))
    message.refresh_from_db()
    assert message.status == st.DELIVERED and message.failure_reason == ""


@override_settings(DELIVERY_REPORT_TIMEOUT=60)
@pytest.mark.parametrize(
    "answer, ends", [("delivered", st.DELIVERED), ("undelivered", st.UNDELIVERED), ("sent", st.NO_REPORT)]
)
def test_a_provider_that_can_be_asked_is_asked_and_its_final_answer_applies(setup, answer, ends):
    ProviderAccount.objects.filter(pk=setup.account.pk).update(kind="fake_fetch")
    message = _send(setup)
    drain()
    message.refresh_from_db()
    setup.gateway.statuses[message.provider_message_id] = answer
    _age(message, 90)
    assert sweeper.sweep() == 1
    message.refresh_from_db()
    assert message.status == ends
    assert message.events.order_by("at", "id").last().provider_status == answer


@override_settings(DELIVERY_REPORT_TIMEOUT=60)
def test_a_final_report_in_time_is_never_touched(setup):
    message = _send(setup)
    drain()
    message.refresh_from_db()
    apply_status_report(setup.account, StatusReport(message.provider_message_id, "delivered", st.DELIVERED))
    _age(message, 3600)
    assert sweeper.sweep() == 0
    assert Message.objects.get(pk=message.pk).status == st.DELIVERED


@override_settings(DELIVERY_REPORT_TIMEOUT=60, OUTBOUND_SWEEP_SECONDS=0)
def test_the_worker_runs_the_sweeper(setup):
    message = _send(setup)
    drain()
    _age(message, 90)
    drain()
    assert Message.objects.get(pk=message.pk).status == st.NO_REPORT
