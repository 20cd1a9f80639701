"""send_message: every refusal before anything is written; one transaction for message and job."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from textdesk.domain import failures
from textdesk.jobs.models import Job
from textdesk.messaging.actions.consent import record_consent
from textdesk.messaging.models import Conversation, Message, MessageEvent
from textdesk.messaging.outbound.send import SendRefused, send_message
from textdesk.org.models import OrganisationSettings


def _send(s, **kw):
    args = dict(user=s.user, record=s.contact, sender_number=s.number, to_number=s.to, body="Hello!")
    args.update(kw)
    return send_message(**args)


def _nothing_written():
    return not Message.objects.exists() and not Job.objects.exists() and not Conversation.objects.exists()


def test_send_writes_message_event_conversation_and_job(setup):
    message = _send(setup)
    assert message.status == "queued"
    assert (message.segments, message.encoding) == (1, "gsm7")
    assert message.from_number == setup.number.e164 and message.to_number == setup.to
    assert message.conversation.record_key == setup.contact.record_key
    assert list(MessageEvent.objects.filter(message=message).values_list("status", flat=True)) == ["queued"]
    job = Job.objects.get(kind="send_message")
    assert job.payload == {"message_id": message.pk}


def test_second_send_reuses_the_conversation(setup):
    a = _send(setup)
    b = _send(setup, body="again")
    assert a.conversation_id == b.conversation_id
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("to", ["11 91234-5678", "5511912345678", "+55119", "", "+1 415 555 0100"])
def test_invalid_recipient_is_refused_with_invalid_sending_parameters(setup, to):
    with pytest.raises(SendRefused) as refused:
        _send(setup, to_number=to)
    assert refused.value.reason == failures.INVALID_SENDING_PARAMETERS
    assert "+5511" in refused.value.fix
    assert _nothing_written()


def test_explicit_e164_not_on_the_record_is_allowed_when_added_to_the_record(setup):
    # Issue 15: a number that is not the record's is refused unless the caller explicitly adds it.
    message = _send(setup, to_number="+5521987654321", add_number_to_record=True)
    assert message.to_number == "+5521987654321"
    assert _send(setup, to_number="+5521987654321").to_number == "+5521987654321"  # now the record's conversation


def test_sender_number_of_someone_else_is_refused(setup, make_user, make_sender_number):
    other = make_sender_number(owner=make_user("other"), provider_account=setup.account)
    with pytest.raises(SendRefused) as refused:
        _send(setup, sender_number=other)
    assert refused.value.reason == failures.SENDER_NOT_ALLOWED
    assert _nothing_written()


def test_team_number_is_allowed_to_its_members(setup, make_team, make_sender_number):
    team = make_team("Inside sales", members=[setup.user])
    team_number = make_sender_number(owner=team, provider_account=setup.account)
    assert _send(setup, sender_number=team_number).sender_number == team_number


def test_opted_out_recipient_is_refused(setup):
    record_consent(setup.to, "*", "opt_out", "keyword")
    with pytest.raises(SendRefused) as refused:
        _send(setup)
    assert refused.value.reason == failures.RECIPIENT_OPTED_OUT
    assert _nothing_written()


@pytest.mark.parametrize("body", ["", "   \n"])
def test_empty_body_is_refused(setup, body):
    with pytest.raises(SendRefused) as refused:
        _send(setup, body=body)
    assert refused.value.reason == failures.EMPTY_BODY
    assert _nothing_written()


def test_body_over_the_configured_limit_is_refused(setup):
    settings = OrganisationSettings.current()
    settings.message_body_limit = 20
    settings.save()
    _send(setup, body="x" * 20)
    with pytest.raises(SendRefused) as refused:
        _send(setup, body="x" * 21)
    assert refused.value.reason == failures.BODY_TOO_LONG
    assert "20" in refused.value.message


def test_default_limit_is_1000(setup):
    _send(setup, body="x" * 1000)
    with pytest.raises(SendRefused):
        _send(setup, body="x" * 1001)


def test_user_without_send_privilege_is_refused(setup, make_user):
    outsider = make_user("viewer", role=None)
    number = setup.number
    number.owner_user = outsider
    number.save()
    with pytest.raises(SendRefused) as refused:
        _send(setup, user=outsider)
    assert refused.value.reason == "MissingPrivilege"
    assert _nothing_written()


def test_system_send_uses_the_record_owner_numbers(setup, make_user, make_sender_number):
    assert _send(setup, user=None, source="sequence").author is None
    stranger = make_sender_number(owner=make_user("stranger"), provider_account=setup.account)
    with pytest.raises(SendRefused) as refused:
        _send(setup, user=None, sender_number=stranger)
    assert refused.value.reason == failures.SENDER_NOT_ALLOWED


def test_scheduled_send_waits_in_the_queue(setup):
    when = timezone.now() + dt.timedelta(hours=3)
    message = _send(setup, send_at=when)
    assert message.status == "scheduled" and message.send_after == when
    assert Job.objects.get().run_at == when


def test_unicode_body_counts_ucs2_segments(setup):
    message = _send(setup, body="😀" * 36)
    assert (message.encoding, message.segments) == ("ucs2", 2)


def test_message_new_is_pushed_after_commit(setup, django_capture_on_commit_callbacks):
    from textdesk.live import bus

    with bus.get_bus().subscribe([bus.user_channel(setup.user.pk)]) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            message = _send(setup)
        channel, data = sub.get(timeout=1)
    assert data["event"] == "message.new" and data["message_id"] == message.pk
