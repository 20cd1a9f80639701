"""Parts of a long message that stop arriving are stored anyway (never lost), and old parts are forgotten."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from textdesk.providers.base import ConcatPart, InboundSMS


def part(number: int, total: int, text: str, ref: str = "77") -> InboundSMS:
    return InboundSMS(f"P{ref}-{number}", "447700900001", "447700900100", text,
                      concat=ConcatPart(reference=ref, total=total, number=number))


def test_missing_part_is_marked_and_the_rest_is_stored(make_provider_account):
    from textdesk.messaging.actions.intake import MISSING_PART, PART_WAIT, store_inbound, sweep_concat_parts
    from textdesk.messaging.models import ConcatPartBuffer, Message

    account = make_provider_account(kind="vonage")
    store_inbound(account.pk, [part(1, 3, "Hello "), part(3, 3, " world")])
    assert sweep_concat_parts() == 0  # too early: the middle part may still come
    later = timezone.now() + PART_WAIT + dt.timedelta(seconds=1)
    assert sweep_concat_parts(later) == 1
    message = Message.objects.get()
    assert message.body == f"Hello {MISSING_PART} world" and message.routing_state == "pending"
    assert not ConcatPartBuffer.objects.exists()
    assert sweep_concat_parts(later) == 0  # idempotent


def test_parts_of_assembled_messages_are_forgotten_after_a_day(make_provider_account):
    from textdesk.messaging.actions.intake import store_inbound, sweep_concat_parts
    from textdesk.messaging.models import ConcatPartBuffer, Message

    account = make_provider_account(kind="vonage")
    store_inbound(account.pk, [part(1, 2, "a"), part(2, 2, "b")])
    assert Message.objects.get().body == "ab"
    assert sweep_concat_parts(timezone.now() + dt.timedelta(hours=1)) == 0
    assert ConcatPartBuffer.objects.count() == 2  # kept: a provider retry must still be recognised
    sweep_concat_parts(timezone.now() + dt.timedelta(days=2))
    assert not ConcatPartBuffer.objects.exists() and Message.objects.count() == 1
