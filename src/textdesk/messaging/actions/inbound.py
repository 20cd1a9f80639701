"""Routing of stored inbound messages to their record and conversation (the worker side).

The webhook stored each message as ``routing_state="pending"``. A worker claims
one at a time (rows locked by another worker are skipped on PostgreSQL), and in
one transaction: normalises the customer's number, gathers the candidate
records, lets :func:`textdesk.domain.routing.choose_record` pick one (or creates
a lead), attaches the message to the conversation, records consent keywords and
writes the notifications. Live pushes go out after commit.

If a process dies mid-way the transaction rolls back and the message is still
pending, so the next pass routes it: nothing is lost and nothing is routed twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import translation
from django.utils.translation import gettext as _

from textdesk.crm.models import RECORD_MODELS, Lead, OwnedRecord, RecordType
from textdesk.domain import optout, phones
from textdesk.domain.routing import Candidate, ReceivingNumber, choose_record
from textdesk.live import bus
from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
from textdesk.messaging.models import (
    Conversation, Direction, Message, MessageStatus, Notification, NotificationKind, RoutingState, SenderNumber,
)
from textdesk.messaging.notify import conversation_audience, number_audience

log = logging.getLogger(__name__)

RECEIVE_PERMISSION = "org.receive_inbound_messages"
PHONE_RECORD_TYPES = (RecordType.ACCOUNT, RecordType.CONTACT, RecordType.LEAD)
CONSENT_SIGNALS = (optout.OPT_OUT, optout.OPT_IN, optout.HELP)
BATCH = 50


# ---------------------------------------------------------------- the poller


def route_pending(worker_id: str = "", limit: int = BATCH) -> int:
    """Route up to ``limit`` pending inbound messages; returns how many were handled."""
    handled = 0
    while handled < limit and route_next():
        handled += 1
    return handled


def route_next() -> bool:
    """Claim and route the oldest pending inbound message. False when there is none."""
    claimed: list[int] = []
    try:
        with transaction.atomic():
            message = _claim()
            if message is None:
                return False
            claimed.append(message.pk)
            route_message(message)
        return True
    except OperationalError:
        raise  # the database is unreachable or busy: the worker retries the whole pass later
    except Exception:
        if not claimed:
            raise
        # A message that cannot be routed must not block the ones behind it, nor be lost.
        log.exception("routing message %s failed; marking it for an administrator", claimed[0])
        with transaction.atomic():
            message = Message.objects.select_for_update().filter(
                pk=claimed[0], routing_state=RoutingState.PENDING).first()
            if message is not None:
                _mark_failed(message, lambda: _("An error occurred while routing it."))
        return True


def _claim() -> Message | None:
    return (
        Message.objects.select_for_update(skip_locked=True)
        .filter(routing_state=RoutingState.PENDING, direction=Direction.INBOUND)
        .order_by("id").first()
    )


# ---------------------------------------------------------------- routing one message


def route_message(message: Message) -> None:
    """Route one claimed message (the caller holds the transaction and the row lock)."""
    our_e164 = phones.normalise(message.to_number).e164 or message.to_number.strip()
    our_number = SenderNumber.objects.select_related("owner_team").filter(e164=our_e164).first()
    if our_number is None:
        _mark_failed(message, lambda: _("%(number)s is not one of our sender numbers.") % {"number": message.to_number})
        return
    region = phones.region_of(our_number.e164)
    customer = phones.normalise(message.from_number, region).e164 or message.from_number.strip()[:16]
    if connection.vendor == "postgresql":
        # Two messages from one new customer, routed at once, must not create two leads.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"route:{customer}"])

    decision = choose_record(gather_candidates(customer, our_number), receiving_number(our_number))
    if decision.candidate is None:
        record = create_lead(customer, our_number)
    else:
        record = RECORD_MODELS[decision.candidate.record_type].objects.get(pk=decision.candidate.record_id)
    conversation = conversation_for(record, customer, our_number)

    message.conversation = conversation
    message.sender_number = our_number
    message.routing_state = RoutingState.ROUTED
    message.routing_rule = decision.rule
    message.save(update_fields=["conversation", "sender_number", "routing_state", "routing_rule", "updated_at"])
    _touch_conversation(conversation, message)
    _record_consent(message, customer, our_number)
    _notify(message, conversation, our_number)


def receiving_number(number: SenderNumber) -> ReceivingNumber:
    members: frozenset[int] = frozenset()
    if number.owner_team_id:
        members = frozenset(number.owner_team.members.values_list("id", flat=True))
    return ReceivingNumber(owner_user_id=number.owner_user_id, owner_team_id=number.owner_team_id,
                           team_member_ids=members)


def _seller_number_ids(number: SenderNumber) -> set[int]:
    """The receiving number and every other number of the same owner (the "seller" of rule 1)."""
    if number.owner_user_id:
        same_owner = Q(owner_user_id=number.owner_user_id)
    else:
        same_owner = Q(owner_team_id=number.owner_team_id)
    return set(SenderNumber.objects.filter(same_owner).values_list("id", flat=True)) | {number.pk}


_CANDIDATE_FIELDS = ("id", "owner_user_id", "owner_team_id", "is_active", "modified_at")


def gather_candidates(customer: str, number: SenderNumber) -> list[Candidate]:
    """Records whose phone fields hold the customer's number, and records already talking with it."""
    last_talk: dict[tuple[str, int], object] = {}
    conversation_records: dict[str, set[int]] = defaultdict(set)
    seller_numbers = _seller_number_ids(number)
    for conv in Conversation.objects.filter(customer_e164=customer).values(
        "record_type", "account_id", "contact_id", "opportunity_id", "lead_id", "sender_number_id", "last_message_at"
    ):
        record_id = conv[f"{conv['record_type']}_id"]
        if record_id is None:
            continue
        key = (conv["record_type"], record_id)
        conversation_records[conv["record_type"]].add(record_id)
        at = conv["last_message_at"]
        if conv["sender_number_id"] in seller_numbers and at is not None:
            if last_talk.get(key) is None or at > last_talk[key]:
                last_talk[key] = at

    candidates: list[Candidate] = []
    for record_type, model in RECORD_MODELS.items():
        match = Q(pk__in=conversation_records[record_type]) if conversation_records[record_type] else Q(pk__in=[])
        if record_type in PHONE_RECORD_TYPES and customer:
            # Each phone column has its own index; the OR becomes two index lookups.
            match |= Q(business_phone_e164=customer) | Q(mobile_phone_e164=customer)
        for row in model.objects.filter(match).values(*_CANDIDATE_FIELDS):
            candidates.append(Candidate(
                record_type=record_type, record_id=row["id"], owner_user_id=row["owner_user_id"],
                owner_team_id=row["owner_team_id"], is_active=row["is_active"], modified_at=row["modified_at"],
                last_conversation_at=last_talk.get((record_type, row["id"])),
            ))
    return candidates


def create_lead(customer: str, number: SenderNumber) -> Lead:
    """The seed's "unknown number": a new lead named after the number, owned by the number's owner."""
    return Lead.objects.create(
        last_name=phones.display(customer)[:100], mobile_phone=customer, source=Lead.Source.INBOUND_TEXT,
        country=phones.region_of(customer) or "", owner_user_id=number.owner_user_id,
        owner_team_id=number.owner_team_id,
    )


def conversation_for(record: OwnedRecord, customer: str, number: SenderNumber) -> Conversation:
    binding = {"record_key": record.record_key, "customer_e164": customer, "sender_number": number}
    conversation = Conversation.objects.filter(**binding).first()
    if conversation is not None:
        return conversation
    conversation = Conversation(customer_e164=customer, sender_number=number)
    conversation.set_record(record)
    try:
        with transaction.atomic():
            conversation.save()
    except IntegrityError:  # someone else (e.g. a seller's first send) created it just now
        conversation = Conversation.objects.get(**binding)
    return conversation


def _touch_conversation(conversation: Conversation, message: Message) -> None:
    """One more unread message; the summary moves only if this is the latest message (one statement)."""
    latest = Q(last_message_at__isnull=True) | Q(last_message_at__lte=message.created_at)

    def if_latest(value, field: str):
        return Case(When(latest, then=Value(value)), default=F(field))

    Conversation.objects.filter(pk=conversation.pk).update(
        unread_count=F("unread_count") + 1,
        last_message_at=if_latest(message.created_at, "last_message_at"),
        last_message_preview=if_latest(message.body[:160], "last_message_preview"),
        last_direction=if_latest(Direction.INBOUND.value, "last_direction"),
        last_status=if_latest(MessageStatus.RECEIVED.value, "last_status"),
    )


def _record_consent(message: Message, customer: str, number: SenderNumber) -> None:
    signal = message.provider_status if message.provider_status in CONSENT_SIGNALS else None
    keyword = optout.classify(message.body)
    action = signal or (keyword.action if keyword else None)
    if action is None:
        return
    scope = ALL_NUMBERS if keyword and keyword.all_numbers and action == optout.OPT_OUT else number.e164
    record_consent(customer, scope, action, "provider_signal" if signal else "keyword",
                   detail=keyword.word if keyword else signal, message=message)


# ---------------------------------------------------------------- failures and notifications


def _mark_failed(message: Message, describe) -> None:
    message.routing_state = RoutingState.FAILED
    message.save(update_fields=["routing_state", "updated_at"])
    admins = list(_administrators())
    for admin in admins:
        with translation.override(admin.language or settings.LANGUAGE_CODE):
            Notification.objects.create(
                user=admin, kind=NotificationKind.ROUTING_FAILED, message=message,
                title=_("A text message could not be routed")[:200],
                body=(_("From %(from)s to %(to)s: ") % {"from": message.from_number, "to": message.to_number}
                      + str(describe()))[:1000],
            )
    _push_unread([a.pk for a in admins])


def _administrators():
    from textdesk.org.models import User
    from textdesk.org.roles import SYSTEM_ADMINISTRATOR

    return User.objects.filter(Q(is_superuser=True) | Q(groups__name=SYSTEM_ADMINISTRATOR), is_active=True).distinct()


def _whom_to_ask(user) -> str:
    from textdesk.org.models import User
    from textdesk.org.roles import SALES_MANAGER, SYSTEM_ADMINISTRATOR

    team_ids = list(user.teams.values_list("id", flat=True))
    people = User.objects.filter(
        Q(groups__name=SYSTEM_ADMINISTRATOR) | Q(groups__name=SALES_MANAGER, teams__in=team_ids), is_active=True
    ).exclude(pk=user.pk).distinct().order_by("username")[:5]
    names = ", ".join(str(p) for p in people)
    return names or _("your system administrator")


def _notify(message: Message, conversation: Conversation, number: SenderNumber) -> None:
    from textdesk.org.models import User

    receivers = User.objects.filter(pk__in=number_audience(number), is_active=True)
    informed, notified = [], []
    customer = phones.display(conversation.customer_e164)
    for user in receivers:
        with translation.override(user.language or settings.LANGUAGE_CODE):
            if user.has_perm(RECEIVE_PERMISSION):
                Notification.objects.create(
                    user=user, kind=NotificationKind.INBOUND_MESSAGE, conversation=conversation, message=message,
                    title=(_("New text message from %(number)s") % {"number": customer})[:200],
                    body=message.body[:1000],
                )
                informed.append(user.pk)
            else:
                Notification.objects.create(
                    user=user, kind=NotificationKind.MISSING_PRIVILEGE,
                    title=_("A text message arrived for you, but you cannot see it")[:200],
                    body=(_("You lack the privilege “%(privilege)s”. Ask %(whom)s to grant it.")
                          % {"privilege": _("Receive inbound text messages"), "whom": _whom_to_ask(user)})[:1000],
                )
            notified.append(user.pk)
    watchers = set(informed)
    others = conversation_audience(conversation) - {u.pk for u in receivers}
    watchers |= {u.pk for u in User.objects.filter(pk__in=others, is_active=True) if u.has_perm(RECEIVE_PERMISSION)}
    if watchers:
        bus.notify_users_on_commit(watchers, "message.new",
                                   {"conversation_id": conversation.pk, "message_id": message.pk})
    _push_unread(notified)


def _push_unread(user_ids) -> None:
    for user_id in set(user_ids):
        unread = Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()
        bus.notify_users_on_commit([user_id], "notification.new", {"unread": unread})
