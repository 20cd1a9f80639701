"""Every state change of sequences: authoring, connecting records, and moving them through their steps.

Each public function owns its transaction. Live pushes ("sequence.changed") and
worker wake-ups are sent only after commit. Progress of one record is changed
only while its connection row is locked, so a seller's click and the worker can
never both act on the same step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from textdesk.crm.models import parse_record_key, record_model
from textdesk.domain import failures
from textdesk.domain import sequences as rules
from textdesk.jobs import queue
from textdesk.live import bus
from textdesk.messaging import unread
from textdesk.sequences.errors import Conflict, Forbidden, Invalid, NotFound
from textdesk.sequences.models import (
    OPEN_STATES,
    ConnectionState,
    Sequence,
    SequenceConnection,
    SequenceStep,
    SequenceStepHistory,
    StepKind,
    StepOutcome,
)

RUN_STEP_JOB = "sequences.run_step"
SEQUENCE_CHANGED = "sequence.changed"
MANAGE_PERMISSION = "org.manage_sequences"


# ---------------------------------------------------------------- helpers


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def manages_sequences(user) -> bool:
    return bool(user and user.is_active and user.has_perm(MANAGE_PERMISSION))


def _require_manager(user) -> None:
    if not manages_sequences(user):
        raise Forbidden(_("Only sales managers and system administrators can change sequences."))


def may_work_on(user, record) -> bool:
    if user is None or not user.is_active:
        return False
    return rules.may_work_on(
        user.pk, user.team_ids(), record.owner_user_id, record.owner_team_id, manages_sequences(user)
    )


def record_audience(record) -> set[int]:
    """The users told about a record's progress: its owner, or every member of its owning team."""
    if record.owner_user_id:
        return {record.owner_user_id}
    return set(record.owner_team.members.values_list("id", flat=True))


def _push(connection: SequenceConnection) -> None:
    step = connection.current_step
    bus.notify_users_on_commit(
        record_audience(connection.record),
        SEQUENCE_CHANGED,
        {
            "connection_id": connection.pk,
            "record_key": connection.record_key,
            "state": connection.state,
            "step_id": step.pk if step else None,
            "step_kind": step.kind if step else None,
            "due_at": connection.due_at.isoformat() if connection.due_at else None,
            "failure_reason": connection.failure_reason,
        },
    )


def _locked_connection(connection_id: int) -> SequenceConnection:
    connection = SequenceConnection.objects.select_for_update().filter(pk=connection_id).first()
    if connection is None:
        raise NotFound(_("This record is not connected to that sequence."))
    return connection


def _load_record(record_key: str):
    try:
        record_type, pk = parse_record_key(record_key)
    except ValueError:
        raise Invalid(_("Not a record key: %(key)s") % {"key": record_key}, code="bad_record_key") from None
    record = record_model(record_type).objects.filter(pk=pk).first()
    if record is None:
        raise NotFound(_("No such record: %(key)s") % {"key": record_key})
    return record


def _validate_step(kind: str, template, wait: dt.timedelta | None) -> None:
    problems = rules.step_problems(rules.StepSpec(kind=kind, has_template=template is not None, wait=wait))
    messages = {
        "unknown_kind": _("Unknown step type."),
        "template_required": _("An automated text message step needs a template."),
        "wait_required": _("A wait step needs a wait time longer than zero."),
        "wait_too_long": _("A wait step waits at most 365 days."),
        "wait_only_on_wait_steps": _("Only wait steps have a wait time."),
        "template_only_on_text_steps": _("Only text message steps have a template."),
    }
    if problems:
        raise Invalid(" ".join(messages[p] for p in problems), code=problems[0])


def _check_lengths(**values: str) -> None:
    """Refuse text longer than its column instead of letting the database fail."""
    limits = {"name": 150}
    for field, value in values.items():
        if value is not None and field in limits and len(value) > limits[field]:
            raise Invalid(
                _("The %(field)s is longer than %(limit)d characters.") % {"field": field, "limit": limits[field]},
                code=f"{field}_too_long",
            )


def _template(template_id: int | None):
    if template_id is None:
        return None
    from textdesk.messaging.models import MessageTemplate

    template = MessageTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise Invalid(_("No such template."), code="template_not_found")
    return template


# ---------------------------------------------------------------- authoring (managers and administrators)


@dataclass
class StepInput:
    kind: str
    name: str = ""
    description: str = ""
    template_id: int | None = None
    wait: dt.timedelta | None = None


def _has_open_connections(sequence: Sequence) -> bool:
    return sequence.connections.filter(state__in=OPEN_STATES).exists()


@transaction.atomic
def create_sequence(
    user, *, name: str, description: str = "", steps: Iterable[StepInput] = (), active: bool = True
) -> Sequence:
    _require_manager(user)
    name = (name or "").strip()
    if not name:
        raise Invalid(_("A sequence needs a name."), code="name_required")
    _check_lengths(name=name)
    if Sequence.objects.filter(name=name).exists():
        raise Conflict(_("A sequence with this name already exists."), code="name_taken")
    sequence = Sequence.objects.create(name=name, description=description, created_by=user, active=active)
    for position, step in enumerate(steps, start=1):
        _check_lengths(name=step.name)
        template = _template(step.template_id)
        _validate_step(step.kind, template, step.wait)
        SequenceStep.objects.create(
            sequence=sequence,
            order=position,
            kind=step.kind,
            name=step.name,
            description=step.description,
            template=template,
            wait=step.wait,
        )
    return sequence


@transaction.atomic
def update_sequence(
    user, sequence_id: int, *, name: str | None = None, description: str | None = None, active: bool | None = None
) -> Sequence:
    _require_manager(user)
    sequence = Sequence.objects.select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFound(_("No such sequence."))
    if name is not None:
        name = name.strip()
        if not name:
            raise Invalid(_("A sequence needs a name."), code="name_required")
        _check_lengths(name=name)
        if Sequence.objects.filter(name=name).exclude(pk=sequence.pk).exists():
            raise Conflict(_("A sequence with this name already exists."), code="name_taken")
        sequence.name = name
    if description is not None:
        sequence.description = description
    if active is not None:
        sequence.active = active
    sequence.save()
    return sequence


@transaction.atomic
def delete_sequence(user, sequence_id: int) -> None:
    _require_manager(user)
    sequence = Sequence.objects.select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFound(_("No such sequence."))
    if sequence.connections.exists():
        raise Conflict(_("Records have been connected to this sequence; deactivate it instead."), code="in_use")
    sequence.delete()


def _structure_editable(sequence: Sequence) -> None:
    if _has_open_connections(sequence):
        raise Conflict(
            _("Records are moving through this sequence; disconnect them before adding, moving or removing steps."),
            code="sequence_in_use",
        )


@transaction.atomic
def add_step(user, sequence_id: int, step: StepInput, *, position: int | None = None) -> SequenceStep:
    """Insert a step at ``position`` (1-based; default: at the end)."""
    _require_manager(user)
    sequence = Sequence.objects.select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFound(_("No such sequence."))
    _structure_editable(sequence)
    _check_lengths(name=step.name)
    template = _template(step.template_id)
    _validate_step(step.kind, template, step.wait)
    steps = list(sequence.steps.order_by("order"))
    position = len(steps) + 1 if position is None else max(1, min(position, len(steps) + 1))
    new = SequenceStep(
        sequence=sequence,
        kind=step.kind,
        name=step.name,
        description=step.description,
        template=template,
        wait=step.wait,
    )
    steps.insert(position - 1, new)
    _renumber(steps)
    return new


def _renumber(steps: list[SequenceStep]) -> None:
    # Two passes keep the (sequence, order) unique constraint true after every single write.
    offset = 100000
    for step in steps:
        if step.pk is not None:
            SequenceStep.objects.filter(pk=step.pk).update(order=step.order + offset)
    for position, step in enumerate(steps, start=1):
        step.order = position
        if step.pk is None:
            step.save()
        else:
            SequenceStep.objects.filter(pk=step.pk).update(order=position)


_UNSET = object()


@transaction.atomic
def update_step(
    user,
    step_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    template_id=_UNSET,
    wait=_UNSET,
    position: int | None = None,
) -> SequenceStep:
    """Change a step. Its type never changes (remove it and add another); moving needs no running records."""
    _require_manager(user)
    step = SequenceStep.objects.select_for_update().select_related("sequence").filter(pk=step_id).first()
    if step is None:
        raise NotFound(_("No such step."))
    if name is not None:
        _check_lengths(name=name)
        step.name = name
    if description is not None:
        step.description = description
    if template_id is not _UNSET:
        step.template = _template(template_id)
    if wait is not _UNSET:
        step.wait = wait
    _validate_step(step.kind, step.template, step.wait)
    step.save()
    if position is not None:
        _structure_editable(step.sequence)
        steps = [s for s in step.sequence.steps.order_by("order") if s.pk != step.pk]
        steps.insert(max(0, min(position - 1, len(steps))), step)
        _renumber(steps)
        step.refresh_from_db()
    return step


@transaction.atomic
def delete_step(user, step_id: int) -> None:
    _require_manager(user)
    step = SequenceStep.objects.select_related("sequence").filter(pk=step_id).first()
    if step is None:
        raise NotFound(_("No such step."))
    sequence = Sequence.objects.select_for_update().get(pk=step.sequence_id)
    _structure_editable(sequence)
    # Disconnected records remember where they stopped; that memory goes with the step.
    SequenceConnection.objects.filter(current_step=step).exclude(state__in=OPEN_STATES).update(current_step=None)
    step.delete()
    _renumber(list(sequence.steps.order_by("order")))


# ---------------------------------------------------------------- connecting records


@dataclass
class ConnectResult:
    record_key: str
    outcome: str  # connected | already_connected | not_found | forbidden | invalid
    connection_id: int | None = None
    message: str = ""


@transaction.atomic
def connect(user, sequence_id: int, record_keys: list[str], *, now: dt.datetime | None = None) -> list[ConnectResult]:
    """Connect records to a sequence; each record gets its own outcome, the others go ahead."""
    now = _now(now)
    sequence = Sequence.objects.filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFound(_("No such sequence."))
    if not sequence.active:
        raise Conflict(_("This sequence is inactive."), code="sequence_inactive")
    if not sequence.steps.exists():
        raise Conflict(_("This sequence has no steps."), code="sequence_empty")
    results = []
    seen: set[str] = set()
    for key in record_keys:
        key = (key or "").strip()
        if key in seen:
            continue
        seen.add(key)
        results.append(_connect_one(user, sequence, key, now))
    return results


def _connect_one(user, sequence: Sequence, key: str, now: dt.datetime) -> ConnectResult:
    try:
        record = _load_record(key)
    except Invalid as exc:
        return ConnectResult(key, "invalid", message=exc.message)
    except NotFound as exc:
        return ConnectResult(key, "not_found", message=exc.message)
    if not may_work_on(user, record):
        # Same answer as a missing record: a seller learns nothing about records that are not theirs.
        return ConnectResult(key, "not_found", message=_("No such record: %(key)s") % {"key": key})
    key = record.record_key
    existing = SequenceConnection.objects.filter(record_key=key, state__in=OPEN_STATES).first()
    if existing is not None:
        return ConnectResult(
            key, "already_connected", existing.pk, _("This record is already in a sequence; disconnect it first.")
        )
    connection = SequenceConnection(sequence=sequence, connected_by=user, connected_at=now)
    connection.set_record(record)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:  # someone connected it at the same moment
        return ConnectResult(
            key, "already_connected", None, _("This record is already in a sequence; disconnect it first.")
        )
    _enter_next(connection, None, now)
    return ConnectResult(key, "connected", connection.pk)


@transaction.atomic
def disconnect(user, connection_id: int, *, now: dt.datetime | None = None) -> SequenceConnection:
    now = _now(now)
    connection = _locked_connection(connection_id)
    _require_worker(user, connection)
    if not connection.is_open:
        raise Conflict(_("This record is no longer in the sequence."), code="not_running")
    connection.state = ConnectionState.STOPPED
    connection.due_at = None
    connection.finished_at = now
    connection.attempt += 1  # anything still scheduled for it is now stale
    connection.save()
    _push(connection)
    return connection


def _require_worker(user, connection: SequenceConnection) -> None:
    if not may_work_on(user, connection.record):
        # Not found rather than forbidden: no hint that the record exists.
        raise NotFound(_("This record is not connected to that sequence."))


# ---------------------------------------------------------------- progress


def _enter_next(connection: SequenceConnection, current_order: int | None, now: dt.datetime) -> None:
    """Move the connection to the step after ``current_order`` (or finish it) and schedule that step."""
    orders = list(connection.sequence.steps.values_list("order", flat=True))
    order = rules.next_position(orders, current_order)
    connection.attempt += 1
    connection.failure_reason = ""
    connection.failure_detail = ""
    if order is None:
        connection.current_step = None
        connection.due_at = None
        connection.state = ConnectionState.COMPLETED
        connection.finished_at = now
        connection.save()
        _push(connection)
        return
    step = connection.sequence.steps.get(order=order)
    connection.current_step = step
    connection.due_at = rules.due_on_entry(step.spec(), now)
    connection.state = ConnectionState.ACTIVE
    connection.save()
    if step.kind in rules.WORKER_KINDS:
        _schedule(connection)
    _push(connection)


def _schedule(connection: SequenceConnection) -> None:
    step_id = connection.current_step_id
    queue.enqueue(
        RUN_STEP_JOB,
        {"connection_id": connection.pk, "step_id": step_id, "attempt": connection.attempt},
        run_at=connection.due_at,
        dedupe_key=f"seqstep:{connection.pk}:{step_id}:{connection.attempt}",
    )


def _record_history(
    connection: SequenceConnection,
    step: SequenceStep,
    outcome: str,
    now: dt.datetime,
    by=None,
    detail: str = "",
    message=None,
) -> SequenceStepHistory:
    return SequenceStepHistory.objects.create(
        connection=connection,
        step=step,
        step_kind=step.kind,
        step_order=step.order,
        outcome=outcome,
        at=now,
        by=by,
        detail=detail[:1000],
        message=message,
    )


def _current(connection: SequenceConnection, step_id: int | None) -> SequenceStep:
    if not connection.is_open or connection.current_step is None:
        raise Conflict(_("This record is no longer in the sequence."), code="not_running")
    if step_id is not None and connection.current_step_id != step_id:
        raise Conflict(_("This step is no longer the current one; the page was out of date."), code="step_moved_on")
    return connection.current_step


@transaction.atomic
def complete_step(
    user, connection_id: int, step_id: int | None = None, *, now: dt.datetime | None = None, detail: str = ""
) -> SequenceConnection:
    """A seller marks the current step done (a call made, an email sent) and the record moves on.

    ``step_id`` guards against a stale page: completing a step that is no longer
    current is refused, so a double click never completes two steps.
    """
    now = _now(now)
    connection = _locked_connection(connection_id)
    _require_worker(user, connection)
    step = _current(connection, step_id)
    if step.kind in rules.WORKER_KINDS and connection.state == ConnectionState.ACTIVE:
        raise Conflict(_("This step runs by itself when it is due; skip it to move on now."), code="runs_by_itself")
    _record_history(connection, step, StepOutcome.COMPLETED, now, by=user, detail=detail)
    _enter_next(connection, step.order, now)
    return connection


@transaction.atomic
def skip_step(
    user, connection_id: int, step_id: int | None = None, *, now: dt.datetime | None = None, detail: str = ""
) -> SequenceConnection:
    """Skip the current step (of any type, failed ones included) and move on."""
    now = _now(now)
    connection = _locked_connection(connection_id)
    _require_worker(user, connection)
    step = _current(connection, step_id)
    _record_history(connection, step, StepOutcome.SKIPPED, now, by=user, detail=detail)
    _enter_next(connection, step.order, now)
    return connection


@transaction.atomic
def retry_step(
    user, connection_id: int, step_id: int | None = None, *, now: dt.datetime | None = None
) -> SequenceConnection:
    """Run a failed automated step again (e.g. after the customer's number was corrected)."""
    now = _now(now)
    connection = _locked_connection(connection_id)
    _require_worker(user, connection)
    step = _current(connection, step_id)
    if connection.state != ConnectionState.FAILED:
        raise Conflict(_("Only a failed step can be retried."), code="not_failed")
    connection.state = ConnectionState.ACTIVE
    connection.failure_reason = ""
    connection.failure_detail = ""
    connection.attempt += 1
    connection.due_at = now
    connection.save()
    if step.kind in rules.WORKER_KINDS:
        _schedule(connection)
    _push(connection)
    return connection


@transaction.atomic
def send_step_text(
    user,
    connection_id: int,
    step_id: int | None,  # None: whatever step is current
    *,
    sender_number_id: int,
    to_number: str,
    body: str,
    now: dt.datetime | None = None,
):
    """A seller sends the text of the current "send a text message" step; the record moves to the next step.

    The message goes through the normal outbound path; if it is refused (opted out,
    invalid number, …) the ``SendRefused`` error propagates and nothing changes.
    """
    from textdesk.messaging.models import SenderNumber
    from textdesk.messaging.outbound.send import send_message

    now = _now(now)
    connection = _locked_connection(connection_id)
    _require_worker(user, connection)
    step = _current(connection, step_id)
    if step.kind != StepKind.TEXT_MANUAL:
        raise Conflict(_("The current step is not a text message a seller sends."), code="not_a_text_step")
    sender = SenderNumber.objects.filter(pk=sender_number_id).first()
    if sender is None:
        raise Invalid(_("No such sender number."), code="sender_not_found")
    message = send_message(
        user=user, record=connection.record, sender_number=sender, to_number=to_number, body=body, source="sequence"
    )
    _record_history(connection, step, StepOutcome.COMPLETED, now, by=user, message=message)
    _enter_next(connection, step.order, now)
    return message


# ---------------------------------------------------------------- the worker's side


@dataclass
class RunResult:
    outcome: str  # advanced | sent | failed | stale | not_due
    due_at: dt.datetime | None = None
    reason: str = ""


@transaction.atomic
def run_due_step(connection_id: int, step_id: int, attempt: int, *, now: dt.datetime | None = None) -> RunResult:
    """Run a scheduled step (a wait that is over, an automated text that is due) exactly once.

    The connection row is locked and the step and attempt must still be current,
    so a repeated or late job does nothing.
    """
    now = _now(now)
    connection = SequenceConnection.objects.select_for_update().filter(pk=connection_id).first()
    if (
        connection is None
        or connection.state != ConnectionState.ACTIVE
        or connection.current_step_id != step_id
        or connection.attempt != attempt
    ):
        return RunResult("stale")
    if connection.due_at and connection.due_at > now:
        return RunResult("not_due", due_at=connection.due_at)
    step = connection.current_step
    if step is None:  # a connection past its last step is not active; nothing to run
        return RunResult("stale")
    if step.kind == StepKind.WAIT:
        _record_history(connection, step, StepOutcome.COMPLETED, now)
        _enter_next(connection, step.order, now)
        return RunResult("advanced")
    if step.kind == StepKind.TEXT_AUTOMATED:
        return _send_automated(connection, step, now)
    return RunResult("stale")  # seller steps are never run by the worker


def _send_automated(connection: SequenceConnection, step: SequenceStep, now: dt.datetime) -> RunResult:
    from textdesk.sequences import rendering

    record = connection.record
    if step.template is None:
        return _fail(connection, step, now, rules.TEMPLATE_MISSING, "")
    to_number = rendering.recipient_for(record)
    if to_number is None:
        return _fail(
            connection,
            step,
            now,
            failures.INVALID_SENDING_PARAMETERS,
            _("The record has no valid mobile or business phone number."),
        )
    sender = rendering.sender_for(record)
    if sender is None:
        return _fail(connection, step, now, rules.NO_SENDER_NUMBER, "")
    body = rendering.render_step_body(step.template, record, record.owner_user)
    from textdesk.messaging.outbound.send import SendRefused, send_message

    try:
        with transaction.atomic():  # a refusal rolls back whatever the send had written
            message = send_message(
                user=None, record=record, sender_number=sender, to_number=to_number, body=body, source="sequence"
            )
    except SendRefused as refused:
        detail = " ".join(str(part) for part in (refused.message, refused.fix) if part)
        return _fail(connection, step, now, refused.reason or failures.UNKNOWN, detail)
    _record_history(connection, step, StepOutcome.COMPLETED, now, message=message)
    _enter_next(connection, step.order, now)
    return RunResult("sent")


def failure_text(code: str) -> tuple[str, str]:
    """Title and fix of a failure reason, including the ones only sequences have."""
    own = {
        rules.NO_SENDER_NUMBER: (
            _("No number to send from"),
            _("Ask your administrator to give the record's owner (or their team) a sender number."),
        ),
        rules.TEMPLATE_MISSING: (
            _("The step's template was deleted"),
            _("Ask your sales manager to choose a template for this step."),
        ),
    }
    if code in own:
        return own[code]
    reason = failures.describe(code)
    return str(reason.title), str(reason.fix)


@transaction.atomic
def text_not_delivered(message, *, now: dt.datetime | None = None) -> bool:
    """The text an automated step sent did not arrive (refused at sending, or reported undelivered later).

    If the record has not moved on since (its current step is still the one after the text, untouched), the
    connection goes back to the text step, failed with the reason, as if the step had failed when it ran: the
    seller sees why and may retry it (e.g. after correcting the number) or skip it. Once a seller has acted on a
    later step, the sequence is left where it is; the failed message itself is shown in the conversation and
    its author or record owner was told. Returns whether the step was reopened. Idempotent.
    """
    now = _now(now)
    sent = (
        SequenceStepHistory.objects.filter(message=message, outcome=StepOutcome.COMPLETED)
        .select_related("step")
        .order_by("-at", "-id")
        .first()
    )
    if sent is None or sent.step is None:
        return False
    connection = SequenceConnection.objects.select_for_update().filter(pk=sent.connection_id).first()
    if connection is None or connection.state != ConnectionState.ACTIVE:
        return False
    if connection.history.filter(pk__gt=sent.pk).exists():
        return False  # the record moved on: a later step was done, skipped or failed
    orders = list(connection.sequence.steps.values_list("order", flat=True))
    following = rules.next_position(orders, sent.step.order)
    if connection.current_step is None or connection.current_step.order != following:
        return False
    connection.current_step = sent.step
    connection.attempt += 1  # a job scheduled for the following step is stale now
    connection.due_at = None
    detail = message.provider_error_text or ""
    _fail(connection, sent.step, now, message.failure_reason or failures.UNKNOWN, detail, message=message)
    return True


def _fail(
    connection: SequenceConnection, step: SequenceStep, now: dt.datetime, reason: str, detail: str, message=None
) -> RunResult:
    from textdesk.messaging.models import Notification, NotificationKind

    title, fix = failure_text(reason)
    detail = detail or fix
    connection.state = ConnectionState.FAILED
    connection.failure_reason = reason[:40]
    connection.failure_detail = detail[:1000]
    connection.save()
    _record_history(connection, step, StepOutcome.FAILED, now, detail=f"{reason}: {detail}", message=message)
    record = connection.record
    audience = record_audience(record)
    heading = _("Sequence step failed: %(record)s") % {"record": record}
    Notification.objects.bulk_create(
        [
            Notification(
                user_id=uid,
                kind=NotificationKind.SEQUENCE_STEP_FAILED,
                title=heading[:200],
                body=f"{connection.sequence.name} · {step.title}: {title}. {detail}"[:1000],
            )
            for uid in sorted(audience)
        ]
    )
    for uid, count in unread.badge_counts(audience).items():  # the bell shows each user's own unread count
        bus.notify_users_on_commit(
            [uid], "notification.new", {"kind": NotificationKind.SEQUENCE_STEP_FAILED, "unread": count}
        )
    _push(connection)
    return RunResult("failed", reason=reason)
