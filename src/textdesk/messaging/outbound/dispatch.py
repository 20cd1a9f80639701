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
from textdesk.jobs import retry
from textdesk.jobs.queue import RetryLater
from textdesk.messaging import carriers
from textdesk.messaging.actions.consent import is_opted_out, record_consent
from textdesk.messaging.models import (
    ConsentAction,
    Message,
    MessageEvent,
    MessagePart,
)
from textdesk.messaging.outbound import ratelimit
from textdesk.messaging.outbound.transition import push_status, record_event, transition
from textdesk.org.models import OrganisationSettings
from textdesk.providers import registry
from textdesk.providers.base import (
    AccountConfig,
    OutboundSMS,
    OutcomeUnknownError,
    ProviderError,
    RetryableProviderError,
    SendResult,
)

log = logging.getLogger(__name__)

# Connect may time out safely (nothing was sent); a read timeout means the outcome is unknown.
HTTP_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
# A slot this close is waited for in the worker; a later one reschedules the job.
MAX_RATE_WAIT = dt.timedelta(seconds=2)
BACKOFF_BASE = 2.0  # seconds
BACKOFF_CAP = 300.0
# Seconds the provider's answer keeps trying to reach the database (well inside the job's 60 s lease).
RECORD_PATIENCE = 30.0

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

# Messages of a claimed batch are loaded at once with everything a send needs (see ``prepare_batch``).
_WITH_SEND_DATA = (
    "sender_number",
    "provider_account",
    "conversation__sender_number",
    "conversation__account",
    "conversation__contact",
    "conversation__opportunity",
    "conversation__lead",
)


def prepare_batch(jobs) -> None:
    """Load the messages of a claimed batch of send jobs, and the organisation's settings, in two queries.

    What is loaded is a starting point, not the truth: every decision that matters (``queued`` →
    ``sending``, the rate-limit slot, the opt-out) is taken again under a lock or a conditional update.
    """
    ids = [int(job.payload["message_id"]) for job in jobs]
    messages = Message.objects.select_related(*_WITH_SEND_DATA).in_bulk(ids)
    org = OrganisationSettings.current()
    for job in jobs:
        job.prepared = (messages.get(int(job.payload["message_id"])), org)


def lane_of(job) -> object:
    """Messages of one sender number are sent one after another; different numbers in parallel."""
    prepared = getattr(job, "prepared", None)
    message = prepared[0] if prepared else None
    return message.sender_number_id if message is not None else None


def handle_send_job(job, now: dt.datetime | None = None) -> None:
    message, org = getattr(job, "prepared", (None, None))
    deliver(int(job.payload["message_id"]), now=now, job=job, message=message, org=org)


def deliver(
    message_id: int,
    now: dt.datetime | None = None,
    *,
    job=None,
    message: Message | None = None,
    org: OrganisationSettings | None = None,
) -> None:
    """Run one attempt for a message. Raises RetryLater to be run again at a later time.

    ``message`` and ``org`` may come preloaded with the job's batch; ``job``, when given, is marked done in
    the same commit that records the provider's answer.
    """
    now = now or timezone.now()
    if message is None:
        message = Message.objects.select_related(*_WITH_SEND_DATA).filter(pk=message_id).first()
        if message is None:
            return
    if message.status == st.SENDING and not message.provider_message_id:
        # Rare: read it again, the batch's copy may be behind a worker that has just finished.
        message = Message.objects.select_related(*_WITH_SEND_DATA).get(pk=message.pk)
        if message.status == st.SENDING and not message.provider_message_id:
            _recover(message, job)
            return
    if message.status not in (st.QUEUED, st.SCHEDULED):
        return  # already handed over or finished: a duplicate job is a no-op

    if message.send_after and now < message.send_after:
        raise RetryLater(message.send_after, "scheduled")
    org = org or OrganisationSettings.current()
    opens = quiet_until(message, org, now)
    if opens > now:
        raise RetryLater(opens, "quiet hours")
    if not _account_ready(message):
        return
    outcome = _start_attempt(message, org)
    if outcome == _OPTED_OUT:
        _fail(message, failures.RECIPIENT_OPTED_OUT, permanent=True, detail="opted out before sending")
    elif outcome == _STARTED:
        _hand_over(message, org, job)


_STARTED, _TAKEN, _OPTED_OUT = "started", "taken", "opted out"


class _Abandon(Exception):
    """Rolls back an attempt's opening transaction (the rate-limit slot is not used up)."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


def _start_attempt(message: Message, org: OrganisationSettings) -> str:
    """Reserve the number's rate-limit slot, check the opt-out, mark ``sending``: one commit, before any HTTP.

    A slot within ``MAX_RATE_WAIT`` in the future is committed alone, waited for, and the attempt opened
    afterwards (so a worker that dies while waiting leaves no ``sending`` trace). A later slot raises
    RetryLater without taking it.
    """

    def reserve_and_open(attempt: int) -> tuple[str | None, dt.datetime | None]:
        slot = None
        if message.sender_number is not None:
            rate = ratelimit.rate_of(message.sender_number, org)
            ok, slot = ratelimit.reserve_slot(message.sender_number.pk, rate, timezone.now(), MAX_RATE_WAIT)
            if not ok:
                raise RetryLater(slot, "rate limit")
        if slot is not None and slot > timezone.now():
            return None, slot  # commit the reservation alone, then wait
        outcome = _open_attempt(message, slot)
        if outcome != _STARTED:
            raise _Abandon(outcome)
        return outcome, slot

    # A lost race (deadlock, serialisation failure) rolls the reservation back whole: it runs again from the start.
    # A lost connection goes up: the job runs again, and finds the message as the last commit left it.
    try:
        outcome, slot = retry.in_transaction(reserve_and_open)
    except _Abandon as abandoned:
        return abandoned.outcome
    if outcome is not None:
        return outcome
    assert slot is not None  # no outcome: a reserved slot to wait for
    wait = (slot - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(wait)
    return retry.in_transaction(lambda attempt: _open_attempt(message, slot))


def _open_attempt(message: Message, slot: dt.datetime | None) -> str:
    """Inside the caller's transaction: the opt-out check, then ``queued`` → ``sending`` if still ours."""
    # Checked again here, just before sending, whatever path queued the message.
    if is_opted_out(message.to_number, message.from_number):
        return _OPTED_OUT
    return _STARTED if _take(message, slot) else _TAKEN


def _take(message: Message, slot: dt.datetime | None) -> bool:
    """Inside the caller's transaction: ``queued`` → ``sending`` (attempts + 1) unless another worker did."""
    attempt = message.attempts + 1
    detail = f"attempt {attempt}" + (f" {SLOT_MARK}{slot.isoformat()}" if slot else "")
    # Ours alone once the conditional update succeeds, so the new values are known without a query.
    taken = transition(
        message, st.SENDING, expect={st.QUEUED, st.SCHEDULED}, fields={"attempts": F("attempts") + 1}, detail=detail
    )
    if taken is None:
        return False
    message.attempts = attempt
    if attempt == 1:
        # In memory only (read back with getattr): saves looking it up for this attempt's request.
        setattr(message, "first_attempt_started", taken.at)  # noqa: B010
    return True


# Decrypted account configurations, per process: (account id, encrypted credentials, options) -> (expiry, config).
# The key holds the row's own values, so a changed account is never served from the cache.
CONFIG_TTL = 10.0
_configs: dict[tuple, tuple[float, AccountConfig]] = {}
_configs_lock = threading.Lock()


def account_config(account) -> AccountConfig:
    """The account's adapter configuration, decrypted at most every ``CONFIG_TTL`` seconds per process."""
    key = (account.pk, account.kind, account.credentials_encrypted, repr(sorted((account.options or {}).items())))
    now = time.monotonic()
    with _configs_lock:
        cached = _configs.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
    config = account.config()
    with _configs_lock:
        if len(_configs) > 256:
            _configs.clear()
        _configs[key] = (now + CONFIG_TTL, config)
    return config


def _account_ready(message: Message) -> bool:
    """Fail before sending (safely: nothing left) when the provider account is unusable."""
    from textdesk.messaging.crypto import CredentialsUnreadable

    account = message.provider_account
    problem = ""
    if not account.is_active:
        problem = "provider account is inactive"
    else:
        try:
            account_config(account)
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
    if not tz_name and message.conversation is not None:
        record = message.conversation.record
        if record is not None and record.country:
            tz_name = _country_zone(record.country)
    return quiet_hours.next_allowed(now, org.quiet_hours_start, org.quiet_hours_end, quiet_hours.zone(tz_name))


def _country_zone(country: str) -> str | None:
    import phonenumbers

    if not phonenumbers.country_code_for_region(country.upper()):
        return None
    example = phonenumbers.example_number(country.upper())
    return (
        phones.timezone_of(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
        if example
        else None
    )


# ---------------------------------------------------------------- state changes


def _event(message: Message, status: str, provider_status: str = "", code: str = "", detail: str = "") -> MessageEvent:
    """A history entry that changes nothing (the status writes go through ``transition``)."""
    return record_event(message, status, provider_status=provider_status, code=code, detail=detail)


SLOT_MARK = "slot="


def slot_of(event_detail: str) -> dt.datetime | None:
    """The rate-limit slot an attempt was given, from its history entry (for audits and the benchmark)."""
    _, found, rest = event_detail.partition(SLOT_MARK)
    return dt.datetime.fromisoformat(rest.split()[0]) if found else None


def _mark_sending(message: Message, slot: dt.datetime | None = None) -> bool:
    """Claim the attempt and commit before any HTTP: False when another worker already took it."""
    with transaction.atomic():
        return _take(message, slot)


def _outbound(message: Message) -> OutboundSMS:
    return OutboundSMS(
        from_number=message.from_number,
        to_number=message.to_number,
        body=message.body,
        idempotency_key=str(message.idempotency_key),
        status_callback_url=message.provider_account.status_url,
        client_reference=str(message.pk),
        first_attempted_at=first_attempt_at(message),
        **carriers.reply_context(message, message.provider_account.kind),
    )


def first_attempt_at(message: Message) -> dt.datetime | None:
    """When the message's first attempt began (its first ``sending`` history entry), the same on every attempt."""
    known = getattr(message, "first_attempt_started", None)
    if known is not None:
        return known
    if message.attempts < 1:
        return None
    return (
        MessageEvent.objects.filter(message_id=message.pk, status=st.SENDING)
        .order_by("at", "id")
        .values_list("at", flat=True)
        .first()
    )


def _hand_over(message: Message, org: OrganisationSettings, job=None) -> None:
    account = message.provider_account
    provider = registry.get_provider(account.kind)
    try:
        result = provider.send(account_config(account), _outbound(message), http_client())
    except ProviderError as error:
        _handle_error(message, error, org, provider)
        return
    except Exception as exc:  # an adapter bug after the request may have left: never guess, never resend
        log.exception("provider %s raised an untranslated error for message %s", account.kind, message.pk)
        _mark_unknown(message, text=repr(exc)[:1000])
        return
    _record_success(message, result, provider, job)


def _record_success(message: Message, result: SendResult, provider, job=None) -> None:
    """Record the provider's acceptance, its part ids, any reports that came first, and the job's end: one commit."""
    from textdesk.jobs.queue import complete
    from textdesk.messaging.outbound.reports import apply_pending_in_transaction

    new_status = result.status if st.should_apply(st.SENDING, result.status) else st.SENDING
    if new_status == st.SENDING and not getattr(provider, "reports_delivery", True):
        new_status = st.SENT  # no delivery reports will come: handed over is as far as we will know
    now = timezone.now()
    values = {
        "provider_message_id": result.provider_message_id,
        "provider_status": (result.provider_status or result.status or "")[:40],
        "status": new_status,
        "updated_at": now,
    }
    if result.segments:
        values["segments"] = result.segments
    if new_status == st.SENT:
        values["sent_at"] = now
    accepted = f"accepted as {result.provider_message_id}"
    provider_status = result.provider_status or result.status or ""

    def record(attempt: int) -> Message:
        if (
            attempt > 1
            and Message.objects.filter(pk=message.pk, provider_message_id=result.provider_message_id).exists()
        ):
            # An earlier try committed before its connection broke: only the job's end may be missing.
            if job is not None:
                complete(job)
            return Message.objects.get(pk=message.pk)
        # The usual case in one statement: still ``sending`` without an id, as this attempt left it.
        if not transition(
            message,
            new_status,
            expect={st.SENDING},
            where={"provider_message_id__isnull": True},
            fields=values,
            provider_status=provider_status,
            detail=accepted,
        ):
            _record_on_changed(message, values, new_status, provider_status, accepted)
        _record_parts(message, result, message.status)
        current = apply_pending_in_transaction(message)
        if job is not None:
            complete(job)
        return current

    # The provider has the message: its answer must be kept, through lost races and a database gone for a moment.
    current = retry.in_transaction(record, patience=RECORD_PATIENCE, ambiguous_commit_ok=True)
    message.status = current.status


def _record_on_changed(message: Message, values: dict, new_status: str, provider_status: str, accepted: str) -> None:
    """Record the acceptance on a message that changed while we were at the provider (the machine decides)."""
    current = Message.objects.select_for_update().get(pk=message.pk)
    message.status = current.status
    kept = {name: value for name, value in values.items() if name not in ("status", "sent_at")}
    Message.objects.filter(pk=message.pk).update(**kept)
    for name, value in kept.items():
        setattr(message, name, value)
    if current.sent_at is None and new_status == st.SENT:
        kept["sent_at"] = values.get("sent_at")
    if not transition(message, new_status, fields=kept, provider_status=provider_status, detail=accepted):
        record_event(message, new_status, provider_status=provider_status, detail=accepted, applied=False)
        push_status(message)


def _record_parts(message: Message, result: SendResult, status: str) -> None:
    """Map every part id of a message the provider tracks in parts, so that each part's report finds it."""
    if len(result.part_ids) < 2:
        return
    MessagePart.objects.bulk_create(
        [
            MessagePart(
                message=message,
                provider_account_id=message.provider_account_id,
                provider_message_id=part_id,
                number=number,
                status=status,
            )
            for number, part_id in enumerate(result.part_ids, start=1)
        ]
    )


def _handle_error(message: Message, error: ProviderError, org: OrganisationSettings, provider=None) -> None:
    if isinstance(error, RetryableProviderError):
        _retry_or_give_up(message, error, org)
    elif isinstance(error, OutcomeUnknownError):
        if getattr(provider, "supports_idempotency", False):
            # The same idempotency key makes the next attempt the same message at the provider.
            _retry_or_give_up(message, error, org)
        else:
            _mark_unknown(message, code=error.code, text=error.text or str(error))
    else:  # PermanentProviderError, or any other refusal
        _fail(
            message,
            error.reason or failures.UNKNOWN,
            permanent=True,
            code=error.code,
            text=error.text,
            opt_out=error.opt_out,
        )


def deadline_of(message: Message, org: OrganisationSettings) -> dt.datetime:
    start = max(message.created_at, message.send_after or message.created_at)
    return start + dt.timedelta(minutes=org.send_deadline_minutes)


def _retry_or_give_up(message: Message, error: ProviderError, org: OrganisationSettings) -> None:
    now = timezone.now()
    deadline = deadline_of(message, org)
    delay = error.retry_after if error.retry_after else backoff(message.attempts)
    next_try = now + dt.timedelta(seconds=delay)
    if next_try >= deadline:
        if isinstance(error, OutcomeUnknownError) or _an_attempt_may_have_arrived(message):
            # An earlier (or this) attempt may have reached the provider: giving up is not "failed".
            _mark_unknown(message, code=error.code, text=error.text or str(error))
            return
        _fail(
            message,
            failures.PROVIDER_UNAVAILABLE,
            permanent=False,
            code=error.code,
            text=error.text or str(error),
            detail="retry deadline reached",
        )
        return
    mark = f" {UNKNOWN_MARK}" if isinstance(error, OutcomeUnknownError) else ""
    retry.in_transaction(
        lambda attempt: transition(
            message,
            st.QUEUED,
            expect={st.SENDING},
            where={"provider_message_id__isnull": True},
            code=error.code,
            detail=f"retry after {delay:.1f}s: {error.reason} {error.text}".strip() + mark,
        ),
        patience=RECORD_PATIENCE,
        ambiguous_commit_ok=True,
    )
    raise RetryLater(next_try, f"{error.reason} {error.code}".strip())


# Kept in the history of a retry whose attempt may have reached the provider (an idempotent provider's
# unknown outcome): if retries run out, the message is ``unknown``, never ``failed``.
UNKNOWN_MARK = "[outcome unknown]"


def _an_attempt_may_have_arrived(message: Message) -> bool:
    return MessageEvent.objects.filter(message_id=message.pk, status=st.QUEUED, detail__contains=UNKNOWN_MARK).exists()


def _fail(
    message: Message,
    reason: str,
    *,
    permanent: bool,
    code: str = "",
    text: str = "",
    opt_out: bool = False,
    detail: str = "",
) -> None:

    def write(attempt: int) -> None:
        failed = transition(
            message,
            st.FAILED,
            fields={
                "failure_reason": reason,
                "failure_permanent": permanent,
                "provider_error_code": str(code)[:40],
                "provider_error_text": (text or "")[:1000],
            },
            code=code,
            detail=(detail or f"{reason} {text}").strip(),
        )
        if failed and opt_out:
            record_consent(
                message.to_number,
                message.from_number,
                ConsentAction.OPT_OUT,
                "provider_error",
                detail=f"{code} {text}".strip(),
                message=message,
            )

    retry.in_transaction(write, patience=RECORD_PATIENCE, ambiguous_commit_ok=True)


def _mark_unknown(message: Message, code: str = "", text: str = "") -> None:
    retry.in_transaction(
        lambda attempt: transition(
            message,
            st.UNKNOWN,
            expect={st.SENDING},
            where={"provider_message_id__isnull": True},
            fields={
                "failure_reason": failures.OUTCOME_UNKNOWN,
                "provider_error_code": str(code)[:40],
                "provider_error_text": (text or "")[:1000],
            },
            code=code,
            detail=text or "outcome unknown",
        ),
        patience=RECORD_PATIENCE,
        ambiguous_commit_ok=True,
    )


# ---------------------------------------------------------------- crash recovery


def _recover(message: Message, job=None) -> None:
    """The message was left ``sending`` by a worker that died mid-call: never a blind second send."""
    if job is not None and _in_hand_elsewhere(message, job):
        return  # a duplicate job while another worker, alive, holds the attempt: its job finishes it
    account = message.provider_account
    provider = registry.get_provider(account.kind)
    org = OrganisationSettings.current()
    if getattr(provider, "supports_idempotency", False):
        _reopen(message, "resent with the same idempotency key after an interrupted attempt")
        _hand_over(message, org, job)
        return
    if getattr(provider, "supports_lookup", False):
        try:
            found = provider.lookup(account_config(account), _outbound(message), http_client())
        except RetryableProviderError as error:
            raise RetryLater(
                timezone.now() + dt.timedelta(seconds=backoff(message.attempts)), f"lookup: {error}"
            ) from None
        except Exception as error:
            _mark_unknown(message, code=getattr(error, "code", ""), text=getattr(error, "text", "") or repr(error))
            return
        if found is not None:
            _event(message, st.SENDING, detail="found at the provider after an interrupted attempt")
            _record_success(message, found, provider, job)
            return
        # The provider has no record of it: the interrupted attempt never reached it, so sending is safe.
        _reopen(message, "not found at the provider after an interrupted attempt; sending")
        _hand_over(message, org, job)
        return
    _mark_unknown(message, text=_("Sending was interrupted; the provider cannot tell whether it went out."))


def _reopen(message: Message, detail: str) -> None:
    """A new attempt on a message still ``sending`` (attempts + 1), committed before the HTTP call."""
    with transaction.atomic():
        if transition(message, st.SENDING, expect={st.SENDING}, fields={"attempts": F("attempts") + 1}, detail=detail):
            message.attempts += 1


def _in_hand_elsewhere(message: Message, job) -> bool:
    """Another send job for this message is leased right now (its worker is alive and mid-attempt)."""
    from textdesk.jobs.models import Job, JobState

    return (
        Job.objects.filter(
            kind=job.kind, state=JobState.PENDING, payload__message_id=message.pk, locked_until__gt=timezone.now()
        )
        .exclude(pk=job.pk)
        .exists()
    )
