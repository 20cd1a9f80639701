"""Durable storage of what a provider's webhook brought: one transaction, then wake the workers.

This is the acknowledgement's only wait, so it is one raw statement per message
(``INSERT … ON CONFLICT DO NOTHING``): the unique (provider account, provider
message id) index makes a provider's retry a no-op, across processes. Routing
to a record happens afterwards in the worker (``actions.inbound``).

An inbound row's ``provider_status`` keeps the provider's consent flag
(``opt_out`` / ``opt_in`` / ``help``) when the provider set one, so the worker
can record it with the message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from textdesk.live import bus
from textdesk.messaging.models import (
    ConcatPartBuffer,
    Direction,
    Message,
    MessageStatus,
    ProviderAccount,
    RoutingState,
)
from textdesk.providers.base import InboundSMS, ParsedWebhook, StatusReport

log = logging.getLogger(__name__)


def _max_length(field_name: str) -> int:
    length = getattr(Message._meta.get_field(field_name), "max_length", None)
    if length is None:  # both are bounded CharFields; a missing bound would let any length through
        raise TypeError(f"Message.{field_name} has no max_length")
    return length


MAX_NUMBER_LENGTH = _max_length("from_number")
MAX_ID_LENGTH = _max_length("provider_message_id")


class InvalidInbound(ValueError):
    """A parsed message cannot be stored as it is (the webhook is answered 400)."""


@dataclass(frozen=True)
class StoreResult:
    stored: int  # new messages
    duplicates: int  # provider retries of messages already stored
    parts_buffered: int = 0  # concatenated parts still waiting for their siblings


def clean_text(value: str | None) -> str:
    """Text as received, minus NUL characters (which PostgreSQL cannot store and nobody means)."""
    return (value or "").replace("\x00", "")


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable_text(value: str) -> str:
    """NUL dropped (nobody means it), half of a surrogate pair replaced by U+FFFD: what any database can store."""
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)


def _storable(item):
    changed = {}
    for f in dataclasses.fields(item):
        value = getattr(item, f.name)
        if isinstance(value, str) and _UNSTORABLE.search(value):
            changed[f.name] = _storable_text(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            repaired = _storable(value)
            if repaired is not value:
                changed[f.name] = repaired
    return dataclasses.replace(item, **changed) if changed else item


def made_storable(parsed: ParsedWebhook, account_id: int) -> ParsedWebhook:
    """A signed webhook's messages and reports with text no database can store (a NUL, a lone surrogate) made
    storable, so that they are kept and answered 2xx instead of failing, and being retried by the provider,
    forever. Each repair is logged as a warning for the administrators."""
    inbound = [_storable(sms) for sms in parsed.inbound]
    statuses = [_storable(report) for report in parsed.statuses]
    repaired: list[InboundSMS | StatusReport] = [
        new
        for new, old in zip([*inbound, *statuses], [*parsed.inbound, *parsed.statuses], strict=True)
        if new is not old
    ]
    if not repaired:
        return parsed
    for item in repaired:
        log.warning(
            "webhook of provider account %s carried unstorable characters (NUL or lone surrogate); stored "
            "repaired: %s %r",
            account_id,
            type(item).__name__,
            item.provider_message_id,
        )
    return dataclasses.replace(parsed, inbound=inbound, statuses=statuses)


def validate(sms: InboundSMS) -> None:
    for label, value in (("From", sms.from_number), ("To", sms.to_number)):
        text = clean_text(value).strip()
        if not text:
            raise InvalidInbound(f"{label} is empty")
        if len(text) > MAX_NUMBER_LENGTH:
            raise InvalidInbound(f"{label} is longer than {MAX_NUMBER_LENGTH} characters")
    if sms.provider_message_id and len(sms.provider_message_id) > MAX_ID_LENGTH:
        raise InvalidInbound(f"the message id is longer than {MAX_ID_LENGTH} characters")
    if sms.concat is not None and not (1 <= sms.concat.number <= sms.concat.total <= 255):
        raise InvalidInbound("concatenated part number out of range")


# What every inbound message starts with, written into the statement (SQL literals of our own constants): the
# webhook's driver then adapts only the values that vary, which is a good part of its CPU per message.
FIXED_COLUMNS = {
    "direction": f"'{Direction.INBOUND.value}'",
    "encoding": "''",
    "status": f"'{MessageStatus.RECEIVED.value}'",
    "failure_reason": "''",
    "failure_permanent": "false",
    "provider_error_code": "''",
    "provider_error_text": "''",
    "routing_state": f"'{RoutingState.PENDING.value}'",
    "routing_rule": "''",
    "attempts": "0",
}
MESSAGE_COLUMNS = (
    "provider_account_id",
    "from_number",
    "to_number",
    "body",
    "segments",
    "provider_status",
    "provider_message_id",
    "created_at",
    "updated_at",
)
MESSAGE_TABLE = Message._meta.db_table
INSERT_MESSAGE = (
    f"INSERT INTO {MESSAGE_TABLE} ({', '.join([*MESSAGE_COLUMNS, *FIXED_COLUMNS])}) "
    f"VALUES ({', '.join(['%s'] * len(MESSAGE_COLUMNS) + list(FIXED_COLUMNS.values()))}) "
    "ON CONFLICT (provider_account_id, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING"
)
_INSERT_PART = (
    f"INSERT INTO {ConcatPartBuffer._meta.db_table} "
    "(provider_account_id, from_number, to_number, reference, total, number, body, provider_message_id, received_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (provider_account_id, from_number, reference, number) DO NOTHING"
)
_SELECT_PARTS = (
    f"SELECT number, body, provider_message_id FROM {ConcatPartBuffer._meta.db_table} "
    "WHERE provider_account_id = %s AND from_number = %s AND reference = %s ORDER BY number"
)


def message_values(
    account_id: int, sms: InboundSMS, body: str, segments: int, message_id: str | None, now: dt.datetime
) -> list:
    """The values of ``INSERT_MESSAGE`` for one inbound message, as Python values (any driver adapts them)."""
    return [
        account_id,
        clean_text(sms.from_number).strip(),
        clean_text(sms.to_number).strip(),
        body,
        max(1, min(segments, 32767)),
        (sms.opt_signal or "")[:40],
        message_id or None,
        now,
        now,
    ]


def single_message_values(account_id: int, sms: InboundSMS, now: dt.datetime) -> list:
    """``message_values`` of a webhook's one whole message (not a part)."""
    return message_values(account_id, sms, clean_text(sms.body), sms.segments or 1, sms.provider_message_id, now)


_CREATED, _UPDATED = (MESSAGE_COLUMNS.index(c) for c in ("created_at", "updated_at"))


def _message_row(account_id: int, sms: InboundSMS, body: str, segments: int, message_id: str | None, now) -> list:
    """``message_values`` adapted for Django's connection (SQLite keeps timestamps as text)."""
    row = message_values(account_id, sms, body, segments, message_id, now)
    row[_CREATED] = row[_UPDATED] = connection.ops.adapt_datetimefield_value(now)
    return row


def _insert_message(cursor, row: list) -> bool:
    cursor.execute(INSERT_MESSAGE, row)
    return cursor.rowcount == 1


def _store_part(cursor, account_id: int, sms: InboundSMS, now) -> tuple[bool, bool]:
    """Buffer one part; when every part is in, insert the whole message. Returns (assembled, new)."""
    concat = sms.concat
    assert concat is not None  # only parts of a concatenated message are buffered
    from_number = clean_text(sms.from_number).strip()
    if connection.vendor == "postgresql":
        # Parts of one message may arrive at once in several processes: serialise them, or each
        # would count only its own part and the message would never be assembled.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"concat:{account_id}:{from_number}:{concat.reference}"],
        )
    cursor.execute(
        _INSERT_PART,
        [
            account_id,
            from_number,
            clean_text(sms.to_number).strip(),
            concat.reference[:64],
            concat.total,
            concat.number,
            clean_text(sms.body),
            sms.provider_message_id or f"{concat.reference}:{concat.number}",
            connection.ops.adapt_datetimefield_value(now),
        ],
    )
    cursor.execute(_SELECT_PARTS, [account_id, from_number, concat.reference[:64]])
    parts = {number: (body, pid) for number, body, pid in cursor.fetchall()}
    if any(n not in parts for n in range(1, concat.total + 1)):
        return False, False
    body = "".join(parts[n][0] for n in range(1, concat.total + 1))
    # The first part's id names the whole message, so a retried part cannot assemble it twice.
    new = _insert_message(cursor, _message_row(account_id, sms, body, concat.total, parts[1][1], now))
    return True, new


def store_inbound(account_id: int, messages: Iterable[InboundSMS]) -> StoreResult:
    """Store inbound messages in one transaction; wake the workers after commit when any is new."""
    messages = list(messages)
    for sms in messages:
        validate(sms)
    now = timezone.now()
    if len(messages) == 1 and messages[0].concat is None and connection.get_autocommit():
        return _store_single(account_id, messages[0], now)
    stored = duplicates = buffered = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for sms in messages:
            if sms.concat is not None and sms.concat.total > 1:
                assembled, new = _store_part(cursor, account_id, sms, now)
                if not assembled:
                    buffered += 1
                    continue
            else:
                row = _message_row(
                    account_id, sms, clean_text(sms.body), sms.segments or 1, sms.provider_message_id, now
                )
                new = _insert_message(cursor, row)
            if new:
                stored += 1
            else:
                duplicates += 1
        if stored:
            bus.wake_workers_on_commit()
    return StoreResult(stored=stored, duplicates=duplicates, parts_buffered=buffered)


def _store_single(account_id: int, sms: InboundSMS, now) -> StoreResult:
    """The common case: one statement in autocommit is the whole durable write (one round trip)."""
    row = _message_row(account_id, sms, clean_text(sms.body), sms.segments or 1, sms.provider_message_id, now)
    with connection.cursor() as cursor:
        new = _insert_message(cursor, row)
    if new:
        bus.wake_workers_on_commit()  # in autocommit the statement has committed: this runs at once
        return StoreResult(stored=1, duplicates=0)
    return StoreResult(stored=0, duplicates=1)


def store_statuses(account_id: int, reports: Iterable[StatusReport]) -> int:
    """Apply delivery reports in one transaction (see ``actions.status``). Returns how many."""
    from textdesk.messaging.outbound.reports import apply_status_report

    account = ProviderAccount(pk=account_id)
    count = 0
    with transaction.atomic():
        for report in reports:
            if not report.provider_message_id or len(report.provider_message_id) > MAX_ID_LENGTH:
                raise InvalidInbound("a status report has no usable message id")
            apply_status_report(account, report)
            count += 1
    return count


def store_parsed(account_id: int, inbound: list[InboundSMS], statuses: list[StatusReport]) -> StoreResult:
    """Store whatever one webhook carried. Some providers send messages and delivery reports to the
    same URL (one event stream), so either route may bring either kind; both commit together."""
    if not statuses:
        return store_inbound(account_id, inbound)
    with transaction.atomic():
        result = store_inbound(account_id, inbound) if inbound else StoreResult(stored=0, duplicates=0)
        store_statuses(account_id, statuses)
    return result


# ---------------------------------------------------------------- parts that never complete

PART_WAIT = dt.timedelta(minutes=15)  # a missing part after this long is not coming
ASSEMBLED_KEEP = dt.timedelta(days=1)  # parts of assembled messages answer provider retries until then
MISSING_PART = "…"


def sweep_concat_parts(now: dt.datetime | None = None) -> int:
    """Store what arrived of messages whose parts stopped coming, so nothing is lost; forget old parts.

    Returns how many messages were stored from incomplete parts.
    """
    now = now or timezone.now()
    groups = (
        ConcatPartBuffer.objects.values("provider_account_id", "from_number", "reference")
        .annotate(first=Min("received_at"), parts=Count("id"), total=Max("total"))
        .filter(first__lt=now - PART_WAIT)
    )
    stored = 0
    for group in groups:
        key = {k: group[k] for k in ("provider_account_id", "from_number", "reference")}
        if group["parts"] >= group["total"]:
            if group["first"] < now - ASSEMBLED_KEEP:
                ConcatPartBuffer.objects.filter(**key).delete()
            continue
        with transaction.atomic():
            parts = list(ConcatPartBuffer.objects.select_for_update().filter(**key).order_by("number"))
            if not parts or len(parts) >= parts[0].total:
                continue
            by_number = {p.number: p for p in parts}
            body = "".join(by_number[n].body if n in by_number else MISSING_PART for n in range(1, parts[0].total + 1))
            first = parts[0]
            sms = InboundSMS(
                provider_message_id=first.provider_message_id,
                from_number=first.from_number,
                to_number=first.to_number,
                body=body,
            )
            with connection.cursor() as cursor:
                if _insert_message(
                    cursor,
                    _message_row(first.provider_account_id, sms, body, len(parts), first.provider_message_id, now),
                ):
                    stored += 1
                    bus.wake_workers_on_commit()
            # A part arriving after this starts a group of its own (stored the same way), never a duplicate.
            ConcatPartBuffer.objects.filter(pk__in=[p.pk for p in parts]).delete()
    return stored
