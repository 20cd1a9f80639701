"""The outbound sweeper: the worker's periodic check that no message is lost or stuck (a poller, see tasks.py).

Invariants it enforces (see docs/outbound.md):

1. **No message stays in flight without a live job.** A message *queued*, *scheduled* or *sending* (without a
   provider id) whose send job is gone or finished gets a new job: the worker then sends it, or, for an
   interrupted attempt, resends with the same idempotency key, looks it up, or says *Unknown outcome*.
2. **No job ends failed while its message still looks in flight.** The message becomes *Failed*
   (``SendingStopped``: it never reached the provider) or, when an attempt may have reached the provider,
   *Unknown outcome*; either way with its reason, its fix and a notification for its author.
3. **No message waits for a delivery report forever.** A message accepted by a provider that reports delivery,
   without a final report ``DELIVERY_REPORT_TIMEOUT`` seconds later, is reconciled: the provider is asked for
   its status where it can be (``fetch_status``); a final answer is applied like a report, anything else makes
   the message *No delivery report* (a late report still moves it on).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import cast

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from textdesk.domain import failures
from textdesk.domain import status as st
from textdesk.jobs import queue, retry
from textdesk.jobs.models import Job, JobState
from textdesk.messaging.models import Direction, Message, ProviderAccount
from textdesk.messaging.outbound.transition import record_event, transition
from textdesk.providers import registry
from textdesk.providers.base import FetchesStatus, ProviderError

log = logging.getLogger(__name__)

SEND_JOB = "send_message"
# A message is only judged once it has been still this long (its job may be between two commits).
GRACE = dt.timedelta(seconds=30)
BATCH = 200

_cursor = {"stranded": 0}


def sweep(now: dt.datetime | None = None) -> int:
    """One pass over both invariants; returns how many messages it changed."""
    now = now or timezone.now()
    return sweep_stranded(now) + reconcile_reports(now)


# ---------------------------------------------------------------- in flight without a live job


def sweep_stranded(now: dt.datetime) -> int:
    in_flight = Q(status__in=[st.QUEUED, st.SCHEDULED]) | Q(status=st.SENDING, provider_message_id__isnull=True)
    candidates = list(
        Message.objects.filter(in_flight, direction=Direction.OUTBOUND, updated_at__lt=now - GRACE)
        .filter(pk__gt=_cursor["stranded"])
        .select_related("conversation", "provider_account")
        .order_by("pk")[:BATCH]
    )
    _cursor["stranded"] = candidates[-1].pk if len(candidates) == BATCH else 0  # next pass goes on, or starts over
    if not candidates:
        return 0
    states: dict[int, set[str]] = {}
    errors: dict[int, str] = {}
    for payload, state, error in Job.objects.filter(
        kind=SEND_JOB, payload__message_id__in=[m.pk for m in candidates]
    ).values_list("payload", "state", "last_error"):
        message_id = int(payload.get("message_id"))
        states.setdefault(message_id, set()).add(state)
        if state == JobState.FAILED:
            errors[message_id] = error
    changed = 0
    for message in candidates:
        jobs = states.get(message.pk, set())
        if JobState.PENDING in jobs:
            continue  # a live job (a dead worker's lease runs out and another worker takes it)
        if JobState.FAILED in jobs:
            changed += _stop(message, errors.get(message.pk, ""))
        else:
            changed += _requeue(message)
    return changed


def _stop(message: Message, error: str) -> int:
    """Its job failed for good: the message says so, with its reason and fix, and its author is told."""
    detail = f"its send job failed: {error}"[:1000]
    if message.status == st.SENDING:
        # An attempt was opened: it may have reached the provider, so "failed" could invite a second send.
        to, reason = st.UNKNOWN, failures.OUTCOME_UNKNOWN
    else:
        to, reason = st.FAILED, failures.SENDING_STOPPED
    fields = {"failure_reason": reason, "provider_error_text": error[:1000]}
    return int(
        retry.in_transaction(
            lambda attempt: transition(
                message,
                to,
                expect={message.status},
                where={"updated_at": message.updated_at, "provider_message_id__isnull": True},
                fields=fields,
                detail=detail,
            )
        )
        is not None
    )


def _requeue(message: Message) -> int:
    """No job is left to send it: a new one (safe: only the job that moves the message on sends it)."""

    def write(attempt: int) -> int:
        if not Message.objects.filter(pk=message.pk, status=message.status, updated_at=message.updated_at).exists():
            return 0
        job = queue.enqueue(
            SEND_JOB,
            {"message_id": message.pk},
            run_at=max(timezone.now(), message.send_after or timezone.now()),
            dedupe_key=f"sweep:{message.pk}:{message.updated_at.timestamp()}",
        )
        if job is None:
            return 0
        record_event(message, message.status, detail="no job was left to send it: queued again", applied=False)
        return 1

    return retry.in_transaction(write, ambiguous_commit_ok=True)


# ---------------------------------------------------------------- no final delivery report


def _reporting_kinds() -> list[str]:
    kinds = []
    for kind in registry.MODULES:
        try:
            if getattr(registry.get_provider(kind), "reports_delivery", True):
                kinds.append(kind)
        except Exception:  # a provider module that cannot load has no messages to reconcile
            continue
    return kinds


def reconcile_reports(now: dt.datetime) -> int:
    timeout = dt.timedelta(seconds=settings.DELIVERY_REPORT_TIMEOUT)
    cutoff = now - timeout
    waiting = list(
        Message.objects.filter(
            direction=Direction.OUTBOUND,
            status__in=sorted(st.AWAITING_REPORT),
            provider_message_id__isnull=False,
            updated_at__lt=cutoff,
            provider_account__kind__in=_reporting_kinds(),
        )
        .select_related("conversation", "provider_account")
        .order_by("updated_at", "pk")[:BATCH]
    )
    changed = 0
    for message in waiting:
        changed += _reconcile(message, cutoff, now - 2 * timeout)
    return changed


def _reconcile(message: Message, cutoff: dt.datetime, give_up: dt.datetime) -> int:
    from textdesk.messaging.outbound.dispatch import account_config, http_client
    from textdesk.messaging.outbound.reports import apply_status_report

    account: ProviderAccount = message.provider_account
    report = None
    try:
        provider = registry.get_provider(account.kind)
        # (The query asks only for messages with a provider id; the test tells the type checker so.)
        if getattr(provider, "supports_status_fetch", False) and message.provider_message_id is not None:
            fetcher = cast(FetchesStatus, provider)  # it says it supports_status_fetch
            report = fetcher.fetch_status(account_config(account), message.provider_message_id, http_client())
    except ProviderError as error:
        if message.updated_at > give_up:
            log.info("status of message %s not available now (%s); asking again later", message.pk, error)
            return 0
    except Exception:
        log.exception("asking %s for the status of message %s failed", account.kind, message.pk)
    if report is not None and report.status in st.FINAL_STATES:
        retry.in_transaction(lambda attempt: apply_status_report(account, report), ambiguous_commit_ok=True)
        return 1
    said = f"; the provider says {report.provider_status}" if report is not None else ""
    return int(
        retry.in_transaction(
            lambda attempt: transition(
                message,
                st.NO_REPORT,
                expect=st.AWAITING_REPORT,
                where={"updated_at__lt": cutoff},
                fields={"failure_reason": failures.NO_DELIVERY_REPORT},
                provider_status=report.provider_status if report is not None else "",
                detail=f"no final delivery report in {settings.DELIVERY_REPORT_TIMEOUT} s{said}",
            ),
            ambiguous_commit_ok=True,
        )
        is not None
    )
