"""Parts of a long message that stop arriving are stored anyway (never lost), and old parts are forgotten."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from textdesk.providers.base import ConcatPart, InboundSMS


def part(number: int, total: int, text: str, ref: str = "77") -> InboundSMS:
    return InboundSMS(
        f"P{ref}-{number}",
        "447700900001",
        "447700900100",
        text,
        concat=ConcatPart(reference=ref, total=total, number=number),
    )


def test_missing_part_is_marked_and_the_rest_is_stored(make_provider_account):
    from textdesk.messaging.inbound.intake import MISSING_PART, PART_WAIT, store_inbound, sweep_concat_parts
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
    from textdesk.messaging.inbound.intake import store_inbound, sweep_concat_parts
    from textdesk.messaging.models import ConcatPartBuffer, Message

    account = make_provider_account(kind="vonage")
    store_inbound(account.pk, [part(1, 2, "a"), part(2, 2, "b")])
    assert Message.objects.get().body == "ab"
    assert sweep_concat_parts(timezone.now() + dt.timedelta(hours=1)) == 0
    assert ConcatPartBuffer.objects.count() == 2  # kept: a provider retry must still be recognised
    sweep_concat_parts(timezone.now() + dt.timedelta(days=2))
    assert not ConcatPartBuffer.objects.exists() and Message.objects.count() == 1


def test_parts_arriving_at_once_in_several_threads_make_one_message(transactional_db, make_provider_account):
    """Each part in its own thread and transaction, all released together: exactly one whole message."""
    import threading

    from django.db import connections

    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.models import Message

    account = make_provider_account(kind="vonage")
    total = 6
    start = threading.Barrier(total * 2)
    errors = []

    def deliver(number: int):
        try:
            start.wait()
            store_inbound(account.pk, [part(number, total, f"<{number}>", ref="race")])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(1, total + 1) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    (message,) = Message.objects.all()
    assert message.body == "".join(f"<{n}>" for n in range(1, total + 1))


def test_the_last_two_parts_racing_still_assemble(transactional_db, make_provider_account):
    """Part 1 is written but not yet committed when part 2 arrives: part 2 must wait for it, not miss it."""
    import threading

    from django.db import connections, transaction

    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.models import Message

    account = make_provider_account(kind="vonage")
    first_written, second_done = threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            with transaction.atomic():
                store_inbound(account.pk, [part(1, 2, "one ", ref="pair")])
                first_written.set()
                # Without serialisation the second part would finish now, seeing no first part.
                second_done.wait(2)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def second():
        try:
            first_written.wait(30)
            store_inbound(account.pk, [part(2, 2, "two", ref="pair")])
            second_done.set()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert Message.objects.get().body == "one two"
