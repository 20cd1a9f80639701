"""Automatic replies to consent keywords: one opt-out confirmation, one opt-in confirmation, HELP.

They are queued through the ordinary send action (so the rate limit, retries, delivery reports and the
audit all hold). Each has a unique key (:func:`textdesk.domain.optout.confirmation_key`): the first writer
of the key sends, every later STOP of the same episode, or a provider's retried webhook, finds it taken.
A confirmation is only sent within five minutes of the customer's message. When the provider itself
handled the keyword (it flags it, e.g. Twilio's ``OptOutType``), it has already answered: we do not.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from textdesk.compliance import audit
from textdesk.compliance.models import AuditAction, AutoReplySent, AutoReplyText, ComplianceSettings, ReplyKind
from textdesk.domain import optout

log = logging.getLogger(__name__)

# The number an automatic reply is being queued to: the send check lets it through despite its opt-out.
replying_to: contextvars.ContextVar[str] = contextvars.ContextVar("compliance_replying_to", default="")


@contextlib.contextmanager
def replying(customer: str):
    token = replying_to.set(customer)
    try:
        yield
    finally:
        replying_to.reset(token)


def default_text(kind: str, language: str, all_numbers: bool = False) -> str:
    """The built-in wording, in ``language``, when the organisation wrote none."""
    org = ComplianceSettings.current()
    with translation.override(language):
        if kind == ReplyKind.OPT_OUT and all_numbers:
            text = _(
                "%(brand)s: you will get no more messages from any of our numbers. "
                "This is our only confirmation. Reply START to subscribe again."
            )
        elif kind == ReplyKind.OPT_OUT:
            text = _(
                "%(brand)s: you will get no more messages from this number. "
                "This is our only confirmation. Reply START to subscribe again."
            )
        elif kind == ReplyKind.OPT_IN:
            text = _("%(brand)s: you are subscribed again. Reply STOP to stop, HELP for help.")
        elif org.help_contact:
            text = _("%(brand)s: for help contact %(contact)s. Reply STOP to stop messages.")
        else:
            text = _("%(brand)s: reply to this message and a person will answer. Reply STOP to stop messages.")
        return text % {"brand": org.brand_name, "contact": org.help_contact}


def reply_text(kind: str, language: str, sender_number, all_numbers: bool = False) -> str:
    """The organisation's text for this number and language, else its text for every number, else ours."""
    texts = AutoReplyText.objects.filter(kind=kind, language=language)
    own = texts.filter(sender_number=sender_number).first() if sender_number is not None else None
    chosen = own or texts.filter(sender_number__isnull=True).first()
    return chosen.text if chosen else default_text(kind, language, all_numbers)


def _episode(event, opposite: str) -> int:
    from textdesk.messaging.models import ConsentEvent

    last = (
        ConsentEvent.objects.filter(
            customer_e164=event.customer_e164, scope__in=[event.scope, "*"], action=opposite, pk__lt=event.pk
        )
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return last or 0


def key_for(event, now) -> str:
    if event.action == optout.OPT_OUT:
        return optout.confirmation_key(event.action, event.customer_e164, event.scope, _episode(event, optout.OPT_IN))
    if event.action == optout.OPT_IN:
        return optout.confirmation_key(event.action, event.customer_e164, event.scope, _episode(event, optout.OPT_OUT))
    return optout.help_key(event.customer_e164, event.scope, now.timestamp())


def language_of(message, intent_language: str | None = None) -> str:
    if intent_language:
        return intent_language
    keyword = optout.classify(message.body)
    preferred = translation.get_supported_language_variant(settings.LANGUAGE_CODE)
    return keyword.language(preferred) if keyword else preferred


REPLY_JOB = "compliance_auto_reply"


def schedule(event, intent_language: str | None = None):
    """Queue the automatic reply to the customer's message behind ``event``, at most once per key.

    Called inside the transaction that records the consent (routing may not have written the customer's
    conversation yet): the job, claimed after commit, sends. The job's unique key is the reply's key, so a
    second STOP of the same episode, or a retried webhook, queues nothing.
    """
    message = event.message
    if message is None or message.direction != "inbound":
        return None
    if event.source.startswith("provider"):
        return None  # the provider answered the keyword itself
    from textdesk.jobs import queue

    payload = {"event_id": event.pk, "message_id": message.pk, "language": intent_language or ""}
    return queue.enqueue(REPLY_JOB, payload, dedupe_key=f"autoreply:{key_for(event, timezone.now())}")


def answer_job(job) -> None:
    from textdesk.messaging.models import ConsentEvent

    event = (
        ConsentEvent.objects.select_related("message__conversation", "message__sender_number")
        .filter(pk=job.payload.get("event_id"))
        .first()
    )
    if event is None:
        return  # erased meanwhile
    answer(event, job.payload.get("language") or None, key=job.dedupe_key or "")


def answer(event, intent_language: str | None = None, key: str = ""):
    """Send the automatic reply to the customer's message behind ``event`` (once per key); the message or None."""
    from textdesk.messaging.outbound.send import SendRefused, send_message

    message = event.message
    if message is None or message.direction != "inbound" or message.conversation_id is None:
        return None
    now = timezone.now()
    if not optout.confirmation_is_due(message.created_at.timestamp(), now.timestamp()):
        audit.record(
            AuditAction.AUTO_REPLY,
            target_type="number",
            target_id=event.customer_e164,
            details={"kind": event.action, "skipped": "later than five minutes after the customer's message"},
        )
        return None
    with transaction.atomic():
        try:
            with transaction.atomic():
                sent = AutoReplySent.objects.create(key=key or key_for(event, now), customer_e164=event.customer_e164)
        except IntegrityError:
            return None  # answered already
        sender_number = message.sender_number
        language = language_of(message, intent_language)
        body = reply_text(event.action, language, sender_number, all_numbers=event.scope == "*")
        details = {"kind": event.action, "language": language, "in_reply_to": message.pk}
        try:
            with replying(event.customer_e164):
                reply = send_message(
                    user=None,
                    record=message.conversation.record,
                    sender_number=sender_number,
                    to_number=event.customer_e164,
                    body=body,
                    source="auto_reply",
                )
        except SendRefused as refused:
            log.warning("automatic %s reply to %s refused: %s", event.action, event.customer_e164, refused)
            audit.record(
                AuditAction.AUTO_REPLY,
                target_type="number",
                target_id=event.customer_e164,
                details={**details, "refused": refused.reason},
            )
            return None
        AutoReplySent.objects.filter(pk=sent.pk).update(message=reply)
        audit.record(
            AuditAction.AUTO_REPLY,
            target_type="number",
            target_id=event.customer_e164,
            details={**details, "message": reply.pk},
        )
    return reply
