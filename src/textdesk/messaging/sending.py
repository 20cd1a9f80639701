"""The worker side of sending: one job per message, handed to the provider at most once per attempt.

The guarantee (see docs/outbound.md):

- The message is marked ``sending`` (attempts + 1) and that is COMMITTED before the HTTP call,
  so a worker that dies mid-call leaves a trace.
- A job that finds its message still ``sending`` without a provider id knows a worker died mid-send.
  It resends with the same idempotency key if the provider honours one, looks the message up if the
  provider allows it, and otherwise marks the outcome ``unknown``: never a silent second send.
- Retryable errors go back to ``queued`` and retry with exponential backoff and full jitter until the
  organisation's deadline; permanent errors fail at once with their reason; an unknown outcome
  (the request may have reached the provider) is never retried automatically.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time

import httpx
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from textdesk.domain import failures, phones, quiet_hours
from textdesk.domain import status as st
from textdesk.jobs.queue import RetryLater
from textdesk.live import bus
from textdesk.messaging import ratelimit
from textdesk.messaging.actions.consent import is_opted_out, record_consent
from textdesk.messaging.models import (
    ConsentAction, Conversation, Message, MessageEvent, Notification, NotificationKind,
)
from textdesk.org.models import OrganisationSettings
from textdesk.providers import registry
from textdesk.providers.base import (
    OutboundSMS, OutcomeUnknownError, PermanentProviderError, ProviderError, RetryableProviderError, SendResult,
)

log = logging.getLogger(__name__)

# Connect may time out safely (nothing was sent); a read timeout means the outcome is unknown.
HTTP_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
# A slot this close is waited for in the worker; a later one reschedules the job.
MAX_RATE_WAIT = dt.timedelta(seconds=2)
BACKOFF_BASE = 2.0  # seconds
BACKOFF_CAP = 300.0

_local = threading.local()


def http_client() -> httpx.Client:
    """One client per worker thread (keeps connections alive between sends)."""
    client = getattr(_local, "client", None)
    if client is None or client.is_closed:
        client = httpx.Client(timeout=HTTP_TIMEOUT)
        _local.client = client
    return client


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0, ceiling)


# ---------------------------------------------------------------- entry point


def handle_send_job(job, now: dt.datetime | None = None) -> None:
    deliver(int(job.payload["message_id"]), now=now)


def deliver(message_id: int, now: dt.datetime | None = None) -> None:
    """Run one attempt for a message. Raises RetryLater to be run again at a later time."""
    now = now or timezone.now()
    message = (
        Message.objects.select_related("sender_number", "provider_account", "conversation").filter(pk=message_id).first()
    )
    if message is None:
        return
    if message.status == st.SENDING and not message.provider_message_id:
        _recover(message)
        return
    if message.status not in (st.QUEUED, st.SCHEDULED):
        return  # already handed over or finished: a duplicate job is a no-op

    if message.send_after and now < message.send_after:
        raise RetryLater(message.send_after, "scheduled")
    org = OrganisationSettings.current()
    opens = quiet_until(message, org, now)
    if opens > now:
        raise RetryLater(opens, "quiet hours")
    slot = None
    if message.sender_number_id:
        rate = ratelimit.rate_of(message.sender_number, org)
        ok, slot = ratelimit.reserve_slot(message.sender_number_id, rate, timezone.now(), MAX_RATE_WAIT)
        if not ok:
            raise RetryLater(slot, "rate limit")
        wait = (slot - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(wait)
    # Checked again here, just before sending, whatever path queued the message.
    if is_opted_out(message.to_number, message.from_number):
        _fail(message, failures.RECIPIENT_OPTED_OUT, permanent=True, detail="opted out before sending")
        return
    if not _account_ready(message):
        return
    if not _mark_sending(message, slot):
        return
    _hand_over(message, org)


def _account_ready(message: Message) -> bool:
    """Fail before sending (safely: nothing left) when the provider account is unusable."""
    from textdesk.messaging.crypto import CredentialsUnreadable

    account = message.provider_account
    problem = ""
    if not account.is_active:
        problem = "provider account is inactive"
    else:
        try:
            account.config()
            registry.get_provider(account.kind)
        except (CredentialsUnreadable, ValueError, ImportError) as exc:
            problem = str(exc)
    if problem:
        _fail(message, failures.PROVIDER_AUTH_FAILED, permanent=True, text=problem[:1000])
        return False
    return True


def quiet_until(message: Message, org: OrganisationSettings, now: dt.datetime) -> dt.datetime:
    """``now``, or when the organisation's quiet hours end in the recipient's time zone."""
    if not org.quiet_hours_enabled:
        return now
    tz_name = phones.timezone_of(message.to_number)
    if not tz_name and message.conversation_id:
        record = message.conversation.record
        if record is not None and record.country:
            tz_name = _country_zone(record.country)
    return quiet_hours.next_allowed(now, org.quiet_hours_start, org.quiet_hours_end, quiet_hours.zone(tz_name))


def _country_zone(country: str) -> str | None:
    import phonenumbers

    if not phonenumbers.country_code_for_region(country.upper()):
        return None
    example = phonenumbers.example_number(country.upper())
    return phones.timezone_of(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)) if example else None


# ---------------------------------------------------------------- state changes


def _event(message: Message, status: str, provider_status: str = "", code: str = "", detail: str = "") -> None:
    MessageEvent.objects.create(
        message=message, status=status, provider_status=provider_status[:40], provider_code=str(code)[:40],
        detail=detail[:1000],
    )


def _audience(conversation: Conversation) -> set[int]:
    """Who hears about this conversation, looked up once per attempt (kept on the instance)."""
    from textdesk.messaging.notify import conversation_audience

    users = getattr(conversation, "_textdesk_audience", None)
    if users is None:
        users = conversation_audience(conversation)
        conversation._textdesk_audience = users
    return users


def _push(message: Message) -> None:
    if not message.conversation_id:
        return
    Conversation.objects.filter(pk=message.conversation_id, last_message_at__lte=message.created_at).update(
        last_status=message.status
    )
    bus.notify_users_on_commit(
        _audience(message.conversation), "message.status",
        {"conversation_id": message.conversation_id, "message_id": message.pk, "status": message.status},
    )


SLOT_MARK = "slot="


def slot_of(event_detail: str) -> dt.datetime | None:
    """The rate-limit slot an attempt was given, from its history entry (for audits and the benchmark)."""
    _, found, rest = event_detail.partition(SLOT_MARK)
    return dt.datetime.fromisoformat(rest.split()[0]) if found else None


def _mark_sending(message: Message, slot: dt.datetime | None = None) -> bool:
    """Claim the attempt and commit before any HTTP: False when another worker already took it."""
    with transaction.atomic():
        taken = Message.objects.filter(pk=message.pk, status__in=[st.QUEUED, st.SCHEDULED]).update(
            status=st.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
        )
        if not taken:
            return False
        # Ours alone now (the conditional update above), so the new values are known without a query.
        message.status, message.attempts = st.SENDING, message.attempts + 1
        detail = f"attempt {message.attempts}" + (f" {SLOT_MARK}{slot.isoformat()}" if slot else "")
        _event(message, st.SENDING, detail=detail)
        _push(message)
    return True


def _outbound(message: Message) -> OutboundSMS:
    return OutboundSMS(
        from_number=message.from_number, to_number=message.to_number, body=message.body,
        idempotency_key=str(message.idempotency_key), status_callback_url=message.provider_account.status_url,
        client_reference=str(message.pk),
    )


def _hand_over(message: Message, org: OrganisationSettings) -> None:
    account = message.provider_account
    provider = registry.get_provider(account.kind)
    try:
        result = provider.send(account.config(), _outbound(message), http_client())
    except ProviderError as error:
        _handle_error(message, error, org)
        return
    except Exception as exc:  # an adapter bug after the request may have left: never guess, never resend
        log.exception("provider %s raised an untranslated error for message %s", account.kind, message.pk)
        _mark_unknown(message, text=repr(exc)[:1000])
        return
    _record_success(message, result, provider)


def _record_success(message: Message, result: SendResult, provider) -> None:
    from textdesk.messaging.actions.status import apply_pending_reports

    with transaction.atomic():
        current = Message.objects.select_for_update().get(pk=message.pk)
        current.provider_message_id = result.provider_message_id
        current.provider_status = (result.provider_status or result.status or "")[:40]
        new_status = result.status if st.should_apply(current.status, result.status) else current.status
        if new_status == st.SENDING and not getattr(provider, "reports_delivery", True):
            new_status = st.SENT  # no delivery reports will come: handed over is as far as we will know
        current.status = new_status
        fields = ["provider_message_id", "provider_status", "status", "updated_at"]
        if result.segments:
            current.segments = result.segments
            fields.append("segments")
        if new_status == st.SENT and current.sent_at is None:
            current.sent_at = timezone.now()
            fields.append("sent_at")
        current.save(update_fields=fields)
        _event(current, new_status, provider_status=result.provider_status or result.status,
               detail=f"accepted as {result.provider_message_id}")
        current.conversation = message.conversation
        _push(current)
    apply_pending_reports(current)


def _handle_error(message: Message, error: ProviderError, org: OrganisationSettings) -> None:
    if isinstance(error, RetryableProviderError):
        _retry_or_give_up(message, error, org)
    elif isinstance(error, OutcomeUnknownError):
        _mark_unknown(message, code=error.code, text=error.text or str(error))
    else:  # PermanentProviderError, or any other refusal
        _fail(message, error.reason or failures.UNKNOWN, permanent=True, code=error.code, text=error.text,
              opt_out=error.opt_out)


def deadline_of(message: Message, org: OrganisationSettings) -> dt.datetime:
    start = max(message.created_at, message.send_after or message.created_at)
    return start + dt.timedelta(minutes=org.send_deadline_minutes)


def _retry_or_give_up(message: Message, error: ProviderError, org: OrganisationSettings) -> None:
    now = timezone.now()
    deadline = deadline_of(message, org)
    delay = error.retry_after if error.retry_after else backoff(message.attempts)
    next_try = now + dt.timedelta(seconds=delay)
    if next_try >= deadline:
        _fail(message, failures.PROVIDER_UNAVAILABLE, permanent=False, code=error.code,
              text=error.text or str(error), detail="retry deadline reached")
        return
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, status=st.SENDING).update(status=st.QUEUED, updated_at=now)
        message.status = st.QUEUED
        _event(message, st.QUEUED, code=error.code, detail=f"retry after {delay:.1f}s: {error.reason} {error.text}".strip())
        _push(message)
    raise RetryLater(next_try, f"{error.reason} {error.code}".strip())


def _notify_failure(message: Message) -> None:
    described = failures.describe(message.failure_reason)
    users: set[int] = set()
    if message.author_id:
        users.add(message.author_id)
    elif message.conversation_id:
        record = message.conversation.record
        if record is not None and record.owner_user_id:
            users.add(record.owner_user_id)
        elif record is not None and record.owner_team_id:
            users |= set(record.owner_team.members.values_list("id", flat=True))
    for user_id in users:
        Notification.objects.create(
            user_id=user_id, kind=NotificationKind.SEND_FAILED,
            title=_("Message to %(number)s not delivered") % {"number": message.to_number},
            body=f"{described.title}. {described.fix}"[:1000],
            conversation_id=message.conversation_id, message=message,
        )
    bus.notify_users_on_commit(users, "notification.new", {"message_id": message.pk})


def _fail(message: Message, reason: str, *, permanent: bool, code: str = "", text: str = "",
          opt_out: bool = False, detail: str = "") -> None:
    with transaction.atomic():
        current = Message.objects.select_for_update().get(pk=message.pk)
        if st.is_final(current.status):
            return
        current.status = st.FAILED
        current.failure_reason = reason
        current.failure_permanent = permanent
        current.provider_error_code = str(code)[:40]
        current.provider_error_text = (text or "")[:1000]
        current.save(update_fields=["status", "failure_reason", "failure_permanent", "provider_error_code",
                                    "provider_error_text", "updated_at"])
        _event(current, st.FAILED, code=code, detail=(detail or f"{reason} {text}").strip())
        if opt_out:
            record_consent(current.to_number, current.from_number, ConsentAction.OPT_OUT, "provider_error",
                           detail=f"{code} {text}".strip(), message=current)
        current.conversation = message.conversation
        _push(current)
        _notify_failure(current)
    message.status = st.FAILED


def _mark_unknown(message: Message, code: str = "", text: str = "") -> None:
    with transaction.atomic():
        current = Message.objects.select_for_update().get(pk=message.pk)
        if current.status != st.SENDING or current.provider_message_id:
            return
        current.status = st.UNKNOWN
        current.failure_reason = failures.OUTCOME_UNKNOWN
        current.provider_error_code = str(code)[:40]
        current.provider_error_text = (text or "")[:1000]
        current.save(update_fields=["status", "failure_reason", "provider_error_code", "provider_error_text",
                                    "updated_at"])
        _event(current, st.UNKNOWN, code=code, detail=text or "outcome unknown")
        current.conversation = message.conversation
        _push(current)
        _notify_failure(current)
    message.status = st.UNKNOWN


# ---------------------------------------------------------------- crash recovery


def _recover(message: Message) -> None:
    """The message was left ``sending`` by a worker that died mid-call: never a blind second send."""
    account = message.provider_account
    provider = registry.get_provider(account.kind)
    org = OrganisationSettings.current()
    if getattr(provider, "supports_idempotency", False):
        with transaction.atomic():
            Message.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1, updated_at=timezone.now())
            _event(message, st.SENDING, detail="resent with the same idempotency key after an interrupted attempt")
        _hand_over(message, org)
        return
    if getattr(provider, "supports_lookup", False):
        try:
            found = provider.lookup(account.config(), _outbound(message), http_client())
        except RetryableProviderError as error:
            raise RetryLater(timezone.now() + dt.timedelta(seconds=backoff(message.attempts)),
                             f"lookup: {error}") from None
        except Exception as error:  # noqa: BLE001 - any other answer leaves the outcome unknown
            _mark_unknown(message, code=getattr(error, "code", ""), text=getattr(error, "text", "") or repr(error))
            return
        if found is not None:
            _event(message, st.SENDING, detail="found at the provider after an interrupted attempt")
            _record_success(message, found, provider)
            return
        # The provider has no record of it: the interrupted attempt never reached it, so sending is safe.
        with transaction.atomic():
            Message.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1, updated_at=timezone.now())
            _event(message, st.SENDING, detail="not found at the provider after an interrupted attempt; sending")
        _hand_over(message, org)
        return
    _mark_unknown(message, text=_("Sending was interrupted; the provider cannot tell whether it went out."))
