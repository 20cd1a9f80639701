"""What the conversation pane shows for a record: conversations, numbers, consent, templates, history.

The reply box follows the conversation on screen: its customer number and its sender number. Another
number is only used when the seller chooses it (``to`` / ``sender_id``), and the pane then leaves that
conversation for the one (or the new one) those numbers make.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import phonenumbers
from django.db.models import Q
from django.utils.translation import gettext as _

from textdesk.domain import failures, phones
from textdesk.domain import routing as routing_rules
from textdesk.messaging.models import Conversation, Message, MessageTemplate, SenderNumber
from textdesk.messaging.visibility import visible_conversations
from textdesk.web import records, routing_words

# Recipient states shown above the composer.
OK, NO_PHONE, INVALID, OPTED_OUT, NO_SENDER = "ok", "no_phone", "invalid", "opted_out", "no_sender"
# The conversation on screen uses a number the seller may not send from: they must choose one of theirs.
FOREIGN_LINE = "foreign_line"

# The language a country's customers most likely read, for ordering templates (else none preferred).
COUNTRY_LANGUAGES = {
    "BR": "pt-br",
    "PT": "pt-br",
    "AO": "pt-br",
    "MZ": "pt-br",
    "IT": "it",
    "SM": "it",
    "VA": "it",
    **dict.fromkeys(
        "ES MX AR CO CL PE VE EC GT CU BO DO HN PY SV NI CR PA UY PR GQ".split(),
        "es",
    ),
    **dict.fromkeys("US GB IE CA AU NZ ZA IN SG PH NG KE GH JM".split(), "en"),
}


def my_sender_numbers(user) -> list[SenderNumber]:
    """Numbers the user may send from: their own first (the default), then their teams'."""
    numbers = SenderNumber.objects.filter(
        Q(owner_user=user) | Q(owner_team__in=user.team_ids()), is_active=True
    ).order_by("name")
    return sorted(numbers, key=lambda n: n.owner_user_id != user.pk)


@dataclass
class MessageView:
    message: Message
    failure: failures.FailureReason | None = None
    routing_explanation: str = ""


@dataclass
class PaneState:
    record: object
    recipients: list[dict]
    recipient: dict | None
    senders: list
    sender: SenderNumber | None
    conversations: list[Conversation]
    conversation: Conversation | None
    messages: list[MessageView] = field(default_factory=list)
    related: list = field(default_factory=list)
    templates: list = field(default_factory=list)
    state: str = OK
    can_send: bool = False
    can_receive: bool = False
    # The conversation's own number when the seller may not send from it (they must choose another).
    foreign_sender: SenderNumber | None = None
    invalid_reason: str = ""

    @property
    def opted_out(self) -> bool:
        return self.state == OPTED_OUT

    @property
    def follows_conversation(self) -> bool:
        """The reply goes to the conversation on screen: same customer, same sender number."""
        c = self.conversation
        return bool(
            c is not None
            and self.sender is not None
            and self.recipient is not None
            and c.sender_number_id == self.sender.pk
            and c.customer_e164 == self.recipient["e164"]
        )


def _same_number(wanted: str, recipient: dict) -> bool:
    return wanted in (recipient["e164"], recipient["raw"], recipient["field"])


def _pick_recipient(recipients: list[dict], wanted: str | None) -> dict | None:
    if wanted:
        for r in recipients:
            if _same_number(wanted, r):
                return r
    for field_name in ("mobile_phone", "business_phone"):
        for r in recipients:
            if r["field"] == field_name and r["is_valid"]:
                return r
    for r in recipients:
        if r["raw"]:
            return r
    return None


def explain_routing(message: Message, record) -> str:
    """Why an inbound message is on its record, naming what really decided.

    A single candidate is either the one record whose phone fields hold the number, or the one record already
    in conversation with it (its phone fields do not hold the number): the rule alone does not say which.
    """
    if message.routing_rule in (routing_rules.ONLY_CANDIDATE, "only_match", "single_match") and record is not None:
        own_numbers = {p["e164"] for p in record.phone_numbers()} if hasattr(record, "phone_numbers") else set()
        if message.from_number not in own_numbers:
            return str(
                _(
                    "This is the only record already in a conversation with this number "
                    "(no record holds the number in its phone fields)."
                )
            )
    return routing_words.explain(message.routing_rule)


def message_views(conversation: Conversation | None) -> list[MessageView]:
    if conversation is None:
        return []
    record = conversation.record
    out = []
    for m in conversation.messages.select_related("author").order_by("created_at", "id"):
        view = MessageView(m)
        if m.direction == "outbound" and m.status in ("failed", "undelivered", "unknown", "no_report"):
            view.failure = failures.describe(
                m.failure_reason or (failures.OUTCOME_UNKNOWN if m.status == "unknown" else "")
            )
        if m.direction == "inbound":
            view.routing_explanation = explain_routing(m, record)
        out.append(view)
    return out


def invalid_reason(raw: str, region: str | None) -> str:
    """Why ``raw`` is not a usable phone number, in words a seller can act on."""
    try:
        parsed = phonenumbers.parse((raw or "").strip(), (region or "US").upper())
    except phonenumbers.NumberParseException:
        return _("It cannot be read as a phone number.")
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason in (phonenumbers.ValidationResult.TOO_SHORT, phonenumbers.ValidationResult.INVALID_LENGTH):
        return _("It has too few digits.")
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        return _("It has too many digits.")
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return _("Its country code does not exist.")
    return _("No phone line uses this number.")


def record_country(record, customer_e164: str) -> str:
    """The customer's country: the record's (or its account's), else the one of their number."""
    country = getattr(record, "country", "") or ""
    account = getattr(record, "account", None) if getattr(record, "account_id", None) else None
    if not country and account is not None:
        country = account.country or ""
    if not country and customer_e164:
        country = phones.region_of(customer_e164) or ""
    return country.upper()


def ordered_templates(user, record, language: str, customer_e164: str) -> list[MessageTemplate]:
    """The user's templates for this record type: their language first, then the customer's country's."""
    country_language = COUNTRY_LANGUAGES.get(record_country(record, customer_e164), "")
    templates = MessageTemplate.objects.filter(owner=user, category=record.record_type).order_by("name")
    language = (language or "").lower()
    return sorted(templates, key=lambda t: (t.language != language, t.language != country_language))


def pane_state(
    user,
    record,
    *,
    to: str | None = None,
    sender_id: str | None = None,
    conversation_id: str | None = None,
    language: str = "",
) -> PaneState:
    from textdesk.messaging.actions.consent import is_opted_out

    conversations = list(
        visible_conversations(user)
        .filter(record_key=record.record_key)
        .select_related("sender_number")
        .order_by("-last_message_at", "-id")
    )
    recipients = records.phone_numbers_for(record)
    senders = list(my_sender_numbers(user))
    chosen_sender = None
    if sender_id and str(sender_id).isdigit():
        chosen_sender = next((s for s in senders if s.pk == int(sender_id)), None)

    conversation = None
    if conversation_id and str(conversation_id).isdigit():
        conversation = next((c for c in conversations if c.pk == int(conversation_id)), None)
    if conversation is not None:
        # A number chosen on purpose that is not this conversation's leaves it (for that pair's conversation).
        if to and to != conversation.customer_e164:
            chosen_recipient = _pick_recipient(recipients, to)
            if chosen_recipient is None or chosen_recipient["e164"] != conversation.customer_e164:
                conversation = None
        if conversation is not None and chosen_sender is not None and chosen_sender.pk != conversation.sender_number_id:
            conversation = None

    if conversation is None and not (to and chosen_sender):
        # Nothing named: the record's most recent conversation with the customer, whatever its number.
        wanted = _pick_recipient(recipients, to)
        customer = wanted["e164"] if wanted else ""
        same_customer = [c for c in conversations if customer and c.customer_e164 == customer]
        if chosen_sender is not None:
            same_customer = [c for c in same_customer if c.sender_number_id == chosen_sender.pk]
        conversation = same_customer[0] if same_customer else None

    foreign_sender = None
    if conversation is not None:
        recipient = next((r for r in recipients if r["e164"] == conversation.customer_e164), None)
        if recipient is None:
            # The conversation's number is no longer on the record (or never was): still show and answer it.
            recipient = {
                "field": "",
                "label": _("This conversation"),
                "raw": conversation.customer_e164,
                "e164": conversation.customer_e164,
                "is_valid": True,
                "owner": None,
            }
            recipients.append(recipient)
        sender = chosen_sender or next((s for s in senders if s.pk == conversation.sender_number_id), None)
        if sender is None:
            foreign_sender = conversation.sender_number
    else:
        recipient = _pick_recipient(recipients, to)
        sender = chosen_sender or (senders[0] if senders else None)
        if recipient is not None and chosen_sender is not None:
            conversation = next(
                (
                    c
                    for c in conversations
                    if c.customer_e164 == recipient["e164"] and c.sender_number_id == chosen_sender.pk
                ),
                None,
            )
    customer = recipient["e164"] if recipient else ""

    reason = ""
    if not any(r["raw"] for r in recipients):
        state = NO_PHONE
    elif recipient is None or not recipient["is_valid"]:
        state = INVALID
        if recipient is not None:
            owner = recipient.get("owner") or record
            region = owner.phone_region() if hasattr(owner, "phone_region") else None
            reason = invalid_reason(recipient["raw"], region)
    elif foreign_sender is not None:
        state = FOREIGN_LINE
    elif sender is None:
        state = NO_SENDER
    elif is_opted_out(customer, sender.e164):
        state = OPTED_OUT
    else:
        state = OK

    return PaneState(
        record=record,
        recipients=recipients,
        recipient=recipient,
        senders=senders,
        sender=sender,
        conversations=conversations,
        conversation=conversation,
        messages=message_views(conversation),
        related=records.related_records(record),
        templates=ordered_templates(user, record, language or user.language, customer),
        state=state,
        can_send=user.has_perm("org.send_messages"),
        can_receive=user.has_perm("org.receive_inbound_messages"),
        foreign_sender=foreign_sender,
        invalid_reason=reason,
    )
