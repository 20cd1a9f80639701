"""Whom a send may go to: one of the record's phone numbers, or the customer of one of the record's
conversations. Any other number is refused, unless the caller explicitly adds it to the record: the send
then opens the record's conversation with that number (and so files it there for every later reply)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from textdesk.messaging.models import Conversation

NOT_ON_RECORD = "RecipientNotOnRecord"


def record_recipients(record) -> set[str]:
    """The E.164 numbers a send on ``record`` may go to without adding one."""
    numbers = {p["e164"] for p in record.phone_numbers() if p["e164"]}
    numbers.update(Conversation.objects.filter(record_key=record.record_key).values_list("customer_e164", flat=True))
    return numbers


def check_recipient_on_record(record, to_number: str, *, add_to_record: bool = False) -> None:
    """Raise SendRefused (422) when ``to_number`` is not one of the record's numbers and was not explicitly added."""
    if add_to_record or to_number in record_recipients(record):
        return
    from textdesk.messaging.outbound.send import SendRefused

    raise SendRefused(
        NOT_ON_RECORD,
        _("%(number)s is not a phone number of %(record)s, nor of one of its conversations.")
        % {"number": to_number, "record": str(record)},
        _(
            "Send to one of the record's numbers, or add this number to the record: in the API, send again with "
            '"add_number_to_record": true.'
        ),
    )
