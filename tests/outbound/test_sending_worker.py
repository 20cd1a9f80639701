"""The worker hands messages to a real HTTP gateway on 127.0.0.1: once, retried, failed, never doubled."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.outbound.helpers import drain, pending_jobs
from textdesk.domain import failures
from textdesk.jobs.models import Job, JobState
from textdesk.jobs.queue import RetryLater
from textdesk.messaging.actions.consent import is_opted_out, record_consent
from textdesk.messaging.models import Message, Notification, ProviderAccount
from textdesk.messaging.outbound import dispatch
from textdesk.messaging.outbound.reports import apply_status_report
from textdesk.messaging.outbound.send import send_message
from textdesk.org.models import OrganisationSettings
from textdesk.providers.base import StatusReport


def _send(s, **kw):
    args = dict(user=s.user, record=s.contact, sender_number=s.number, to_number=s.to, body="Hello from TextDesk")
    args.update(kw)
    return send_message(**args)


def _history(message):
    return list(message.events.order_by("at", "id").values_list("status", flat=True))


def test_a_send_reaches_the_provider_once(setup):
    message = _send(setup)
    drain()
    message.refresh_from_db()
    sent = setup.gateway.sends_to(setup.to)
    assert len(sent) == 1 and sent[0].body == "Hello from TextDesk" and sent[0].reference == str(message.pk)
    assert message.provider_message_id == setup.gateway.accepted[""]
    assert message.status == "sending" and message.attempts == 1
    assert _history(message) == ["queued", "sending", "sending"]
    assert Job.objects.get().state == JobState.DONE
    drain()  # nothing left to do: no second request
    assert len(setup.gateway.sends_to(setup.to)) == 1


def test_duplicate_job_for_one_message_is_a_no_op(setup):
    from textdesk.jobs import queue

    message = _send(setup)
    queue.enqueue("send_message", {"message_id": message.pk})
    drain()
    assert len(setup.gateway.sends_to(setup.to)) == 1


def test_retryable_failure_retries_and_succeeds(setup):
    setup.gateway.script(setup.to, "503", "429")
    message = _send(setup)
    drain(advance=False)
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 1
    job = pending_jobs().get()
    assert job.run_at > timezone.now() - dt.timedelta(seconds=1) and "ProviderUnavailable" in job.last_error
    drain()
    message.refresh_from_db()
    assert len(setup.gateway.sends_to(setup.to)) == 3
    assert message.status == "sending" and message.provider_message_id and message.attempts == 3
    assert _history(message) == ["queued", "sending", "queued", "sending", "queued", "sending", "sending"]


def test_retryable_failures_until_the_deadline_end_failed_provider_unavailable(setup):
    message = _send(setup)
    # Queued 61 minutes ago: the organisation's 60-minute deadline has passed.
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(minutes=61))
    setup.gateway.script(setup.to, "503")
    drain()
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.failure_reason == failures.PROVIDER_UNAVAILABLE and not message.failure_permanent
    assert Notification.objects.filter(user=setup.user, kind="send_failed", message=message).exists()


def test_permanent_failure_ends_failed_with_reason_and_fix(setup):
    setup.gateway.script(setup.to, ("error", "30006", "Landline or unreachable carrier"))
    message = _send(setup)
    drain()
    message.refresh_from_db()
    assert len(setup.gateway.sends_to(setup.to)) == 1
    assert message.status == "failed" and message.failure_reason == failures.LANDLINE
    assert message.failure_permanent and message.provider_error_code == "30006"
    assert "mobile" in str(failures.describe(message.failure_reason).fix)
    note = Notification.objects.get(user=setup.user, kind="send_failed")
    assert "mobile" in note.body


def test_provider_opt_out_error_fails_and_opts_the_number_out(setup):
    setup.gateway.script(setup.to, ("error", "21610", "Attempt to send to unsubscribed recipient"))
    message = _send(setup)
    drain()
    message.refresh_from_db()
    assert message.failure_reason == failures.RECIPIENT_OPTED_OUT
    assert is_opted_out(setup.to, setup.number.e164)


def test_opt_out_after_queueing_is_rechecked_before_sending(setup):
    message = _send(setup)
    record_consent(setup.to, setup.number.e164, "opt_out", "keyword")
    drain()
    message.refresh_from_db()
    assert setup.gateway.requests == []
    assert message.status == "failed" and message.failure_reason == failures.RECIPIENT_OPTED_OUT


def test_lost_answer_is_unknown_outcome_and_never_resent(setup):
    setup.gateway.script(setup.to, "drop")
    message = _send(setup)
    drain()
    message.refresh_from_db()
    assert message.status == "unknown" and message.failure_reason == failures.OUTCOME_UNKNOWN
    drain()
    assert len(setup.gateway.sends_to(setup.to)) == 1
    assert Notification.objects.filter(kind="send_failed", message=message).exists()


def _interrupted(setup, kind):
    """A message whose worker marked it `sending`, reached the gateway, then died before recording the answer."""
    ProviderAccount.objects.filter(pk=setup.account.pk).update(kind=kind)
    setup.gateway.script(setup.to, "drop")
    message = _send(setup)
    dispatch._mark_sending(message)
    with pytest.raises(Exception):  # noqa: B017 — the crash: the answer never arrives
        dispatch.registry.get_provider(kind).send(
            setup.account.config(), dispatch._outbound(Message.objects.get(pk=message.pk)), dispatch.http_client()
        )
    assert len(setup.gateway.sends_to(setup.to)) == 1
    return message


def test_crash_mid_send_without_idempotency_or_lookup_becomes_unknown(setup):
    message = _interrupted(setup, "fake")
    drain()
    message.refresh_from_db()
    assert message.status == "unknown"
    assert len(setup.gateway.sends_to(setup.to)) == 1


def test_crash_mid_send_with_idempotency_resends_with_the_same_key(setup):
    message = _interrupted(setup, "fake_idem")
    drain()
    message.refresh_from_db()
    sent = setup.gateway.sends_to(setup.to)
    assert len(sent) == 2 and sent[0].key == sent[1].key == str(message.idempotency_key)
    assert setup.gateway.accepted_count() == 1  # the gateway saw one message, not two
    assert message.provider_message_id == setup.gateway.accepted[str(message.idempotency_key)]


def test_crash_mid_send_with_lookup_finds_the_message(setup):
    message = _interrupted(setup, "fake_lookup")
    drain()
    message.refresh_from_db()
    assert len(setup.gateway.sends_to(setup.to)) == 1
    assert message.provider_message_id == setup.gateway.by_reference[str(message.pk)]
    assert message.status == "sending"


def test_crash_before_reaching_a_lookup_provider_sends_once(setup):
    ProviderAccount.objects.filter(pk=setup.account.pk).update(kind="fake_lookup")
    message = _send(setup)
    dispatch._mark_sending(message)  # died before the HTTP call
    drain()
    message.refresh_from_db()
    assert len(setup.gateway.sends_to(setup.to)) == 1 and message.provider_message_id


def _report(pid, status, provider_status, **kw):
    return StatusReport(provider_message_id=pid, provider_status=provider_status, status=status, **kw)


def test_callbacks_out_of_order_end_in_the_right_final_state(setup):
    message = _send(setup)
    drain()
    message.refresh_from_db()
    pid = message.provider_message_id
    account = setup.account
    apply_status_report(account, _report(pid, "delivered", "delivered"))
    apply_status_report(account, _report(pid, "sent", "sent"))
    apply_status_report(account, _report(pid, "sending", "sending"))
    apply_status_report(account, _report(pid, "delivered", "delivered"))
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at


def test_callback_arriving_before_the_provider_id_is_recorded_is_applied_after(setup):
    message = _send(setup)
    # The provider answers "SM00000001"; its delivery report races ahead of our recording of that id.
    apply_status_report(
        setup.account,
        _report(
            "SM00000001",
            "undelivered",
            "undelivered",
            error_code="30003",
            failure_reason=failures.UNREACHABLE_DESTINATION,
        ),
    )
    drain()
    message.refresh_from_db()
    assert message.provider_message_id == "SM00000001"
    assert message.status == "undelivered" and message.failure_reason == failures.UNREACHABLE_DESTINATION


# ---------------------------------------------------------------- scheduled sends and quiet hours


def test_scheduled_send_waits_until_its_time(setup):
    when = timezone.now() + dt.timedelta(hours=2)
    message = _send(setup, send_at=when)
    with pytest.raises(RetryLater) as retry:
        dispatch.deliver(message.pk, now=timezone.now())
    assert retry.value.run_at == when
    dispatch.deliver(message.pk, now=when + dt.timedelta(seconds=1))
    assert len(setup.gateway.requests) == 1


def _quiet(start=dt.time(21), end=dt.time(8)):
    org = OrganisationSettings.current()
    org.quiet_hours_enabled, org.quiet_hours_start, org.quiet_hours_end = True, start, end
    org.save()


SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def test_quiet_hours_hold_in_the_recipient_time_zone(setup):
    _quiet()
    message = _send(setup)
    late_evening = dt.datetime(2026, 3, 10, 22, 30, tzinfo=SAO_PAULO)  # 01:30 UTC
    with pytest.raises(RetryLater) as retry:
        dispatch.deliver(message.pk, now=late_evening)
    assert retry.value.run_at == dt.datetime(2026, 3, 11, 8, 0, tzinfo=SAO_PAULO)
    assert setup.gateway.requests == []
    message.refresh_from_db()
    assert message.status == "queued"
    dispatch.deliver(message.pk, now=dt.datetime(2026, 3, 11, 8, 0, tzinfo=SAO_PAULO))
    assert len(setup.gateway.requests) == 1


def test_quiet_hours_let_daytime_sends_through(setup):
    _quiet()
    message = _send(setup)
    dispatch.deliver(message.pk, now=dt.datetime(2026, 3, 10, 14, 0, tzinfo=SAO_PAULO))
    assert len(setup.gateway.requests) == 1


def test_quiet_hours_job_is_rescheduled_by_the_worker(setup):
    _quiet(dt.time(0, 0), dt.time(23, 59))  # quiet almost all day, wherever the recipient is
    now_local = timezone.now().astimezone(SAO_PAULO)
    if now_local.time() >= dt.time(23, 59):
        pytest.skip("the one open minute of this window is now")
    _send(setup)
    drain(advance=False)
    job = pending_jobs().get()
    assert "quiet hours" in job.last_error
    assert job.run_at.astimezone(SAO_PAULO).time() == dt.time(23, 59)
    assert setup.gateway.requests == []


def test_unreadable_credentials_fail_before_anything_is_sent(setup):
    ProviderAccount.objects.filter(pk=setup.account.pk).update(credentials_encrypted="not-a-fernet-token")
    message = _send(setup)
    drain()
    message.refresh_from_db()
    assert setup.gateway.requests == []
    assert message.status == "failed" and message.failure_reason == failures.PROVIDER_AUTH_FAILED
    assert "sending" not in _history(message)


def test_backoff_is_exponential_with_full_jitter():
    import random

    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(dispatch.BACKOFF_CAP, dispatch.BACKOFF_BASE * 2 ** (attempt - 1))
        draws = [dispatch.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling / 2  # spread over the whole range, not clustered at the ceiling


def test_rate_slots_follow_each_other_and_far_slots_are_not_taken(setup):
    from textdesk.messaging.models import SenderNumber
    from textdesk.messaging.outbound import ratelimit

    now = timezone.now()
    wait = dt.timedelta(seconds=2)
    got = [ratelimit.reserve_slot(setup.number.pk, 2.0, now, wait) for _ in range(5)]
    assert got == [(True, now + dt.timedelta(seconds=0.5 * i)) for i in range(5)]
    # The next free slot is 2.5 s away: beyond the wait, so it is reported and left free.
    assert ratelimit.reserve_slot(setup.number.pk, 2.0, now, wait) == (False, now + dt.timedelta(seconds=2.5))
    assert SenderNumber.objects.get(pk=setup.number.pk).next_send_at == now + dt.timedelta(seconds=2.5)
    # Later, the number has been idle: the slot is "now" again.
    later = now + dt.timedelta(minutes=1)
    assert ratelimit.reserve_slot(setup.number.pk, 2.0, later, wait) == (True, later)


def test_quiet_hours_use_the_record_country_when_the_number_has_no_zone(setup):
    # +800 numbers are international freephone: no time zone of their own, so the record's country decides.
    _quiet()
    message = _send(setup, to_number="+80012345678", add_number_to_record=True)
    late_evening = dt.datetime(2026, 3, 10, 22, 30, tzinfo=SAO_PAULO)
    org = OrganisationSettings.current()
    opens = dispatch.quiet_until(message, org, late_evening)
    assert opens.astimezone(ZoneInfo(dispatch._country_zone("BR"))).time() == dt.time(8, 0)
    assert opens > late_evening
