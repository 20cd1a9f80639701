"""Sequences in the REST API: authoring (managers), connecting records, the work list, step progress."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict

from textdesk import errors
from textdesk.api.common import ERRORS, DbId, ErrorOut, OptionalDbId, OptionalSmallInt, PageQuery, page_schema
from textdesk.crm import record_types
from textdesk.sequences import actions, queries
from textdesk.sequences.errors import SequenceError
from textdesk.sequences.models import Sequence, SequenceConnection, SequenceStep

router = Router(tags=["sequences"])


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


StepKindName = Literal["text_manual", "text_automated", "wait", "call", "email"]
RecordTypeName = Literal[record_types.KEYS]  # type: ignore[valid-type]


def refusals(view):
    """Turn a refused action into its 4xx answer with a machine-readable code."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except SequenceError as exc:
            return errors.api_response(exc)

    return wrapper


# ---------------------------------------------------------------- schemas


RefusalOut = ErrorOut
REFUSALS = {**ERRORS}


class StepIn(StrictIn):
    kind: StepKindName
    name: str = ""
    description: str = ""
    template_id: OptionalDbId = None
    wait_seconds: int | None = None


class StepPatch(StrictIn):
    name: str | None = None
    description: str | None = None
    template_id: OptionalDbId = None
    wait_seconds: int | None = None
    position: OptionalSmallInt = None


class StepOut(Schema):
    id: int
    order: int
    kind: str
    name: str
    description: str
    template_id: int | None
    wait_seconds: int | None


class SequenceIn(StrictIn):
    name: str
    description: str = ""
    active: bool = True
    steps: list[StepIn] = []


class SequencePatch(StrictIn):
    name: str | None = None
    description: str | None = None
    active: bool | None = None


class SequenceOut(Schema):
    id: int
    name: str
    description: str
    active: bool
    created_by_id: int | None
    steps: list[StepOut]


class ConnectIn(StrictIn):
    record_keys: list[str]


class ConnectOut(Schema):
    record_key: str
    outcome: str
    connection_id: int | None
    message: str


class StepRef(StrictIn):
    step_id: OptionalDbId = None


class ConnectionOut(Schema):
    id: int
    sequence_id: int
    sequence_name: str
    record_key: str
    record_type: str
    record_name: str
    state: str
    step: StepOut | None
    due_at: dt.datetime | None
    failure_reason: str
    failure_detail: str
    connected_at: dt.datetime
    finished_at: dt.datetime | None


ConnectionPage = page_schema(ConnectionOut)


class HistoryOut(Schema):
    step_id: int | None
    step_kind: str
    step_order: int
    outcome: str
    at: dt.datetime
    by_id: int | None
    detail: str
    message_id: int | None


class ConnectionDetailOut(ConnectionOut):
    history: list[HistoryOut]


def _step_out(step: SequenceStep) -> dict:
    return {
        "id": step.pk,
        "order": step.order,
        "kind": step.kind,
        "name": step.name,
        "description": step.description,
        "template_id": step.template_id,
        "wait_seconds": int(step.wait.total_seconds()) if step.wait is not None else None,
    }


def _sequence_out(sequence: Sequence) -> dict:
    return {
        "id": sequence.pk,
        "name": sequence.name,
        "description": sequence.description,
        "active": sequence.active,
        "created_by_id": sequence.created_by_id,
        "steps": [_step_out(s) for s in sequence.steps.order_by("order")],
    }


def _connection_out(c: SequenceConnection) -> dict:
    return {
        "id": c.pk,
        "sequence_id": c.sequence_id,
        "sequence_name": c.sequence.name,
        "record_key": c.record_key,
        "record_type": c.record_type,
        "record_name": str(c.record),
        "state": c.state,
        "step": _step_out(c.current_step) if c.current_step else None,
        "due_at": c.due_at,
        "failure_reason": c.failure_reason,
        "failure_detail": c.failure_detail,
        "connected_at": c.connected_at,
        "finished_at": c.finished_at,
    }


def _wait(seconds: int | None) -> dt.timedelta | None:
    if seconds is None:
        return None
    # Clamped so that absurd values reach the rule's "at most 365 days" refusal instead of overflowing.
    return dt.timedelta(seconds=max(-1, min(seconds, 10**9)))


def _visible_connection(request, connection_id: DbId) -> SequenceConnection:
    c = SequenceConnection.objects.select_related("sequence", "current_step").filter(pk=connection_id).first()
    if c is None or not actions.may_work_on(request.user, c.record):
        raise HttpError(404, _("No such connection."))
    return c


# ---------------------------------------------------------------- the work list and connections
# (literal paths before "/{sequence_id}" ones)


def _page(items, page: PageQuery, out) -> dict:
    return {
        "count": items.count(),
        "limit": page.limit,
        "offset": page.offset,
        "items": [out(x) for x in items[page.offset : page.offset + page.limit]],
    }


@router.get(
    "/work-list",
    response={200: ConnectionPage, **REFUSALS},
    summary="My records with a due or upcoming step, earliest due first",
)
def work_list(
    request,
    pagination: Query[PageQuery],
    step_kind: StepKindName | None = None,
    record_type: RecordTypeName | None = None,
):
    items = queries.work_list(request.user, step_kind=step_kind, record_type=record_type)
    return _page(items, pagination, _connection_out)


@router.get(
    "/connections",
    response={200: list[ConnectionOut], **REFUSALS},
    summary="Every connection of one record, newest first",
)
def record_connections(request, record_key: str = Query(...)):
    from textdesk.crm.models import parse_record_key, record_model

    try:
        record_type, pk = parse_record_key(record_key)
    except ValueError:
        raise errors.InvalidInput(_("Not a record key."), code="invalid_record_key") from None
    record = record_model(record_type).objects.filter(pk=pk).first()
    if record is None or not actions.may_work_on(request.user, record):
        raise HttpError(404, _("No such record."))
    qs = SequenceConnection.objects.filter(record_key=record.record_key).select_related("sequence", "current_step")
    return [_connection_out(c) for c in qs.order_by("-connected_at", "-id")]


@router.get("/connections/{int:connection_id}", response={200: ConnectionDetailOut, **REFUSALS})
def get_connection(request, connection_id: DbId):
    c = _visible_connection(request, connection_id)
    return {**_connection_out(c), "history": list(c.history.all())}


@router.delete(
    "/connections/{int:connection_id}",
    response={200: ConnectionOut, **REFUSALS},
    summary="Disconnect (stops the sequence)",
)
@refusals
def disconnect(request, connection_id: DbId):
    return _connection_out(actions.disconnect(request.user, connection_id))


@router.post(
    "/connections/{int:connection_id}/complete",
    response={200: ConnectionOut, **REFUSALS},
    summary="Mark the current step done (step_id guards against a stale page)",
)
@refusals
def complete(request, connection_id: DbId, payload: StepRef):
    return _connection_out(actions.complete_step(request.user, connection_id, payload.step_id))


@router.post("/connections/{int:connection_id}/skip", response={200: ConnectionOut, **REFUSALS})
@refusals
def skip(request, connection_id: DbId, payload: StepRef):
    return _connection_out(actions.skip_step(request.user, connection_id, payload.step_id))


@router.post(
    "/connections/{int:connection_id}/retry",
    response={200: ConnectionOut, **REFUSALS},
    summary="Run a failed automated step again",
)
@refusals
def retry(request, connection_id: DbId, payload: StepRef):
    return _connection_out(actions.retry_step(request.user, connection_id, payload.step_id))


# ---------------------------------------------------------------- sequences and steps


@router.get("/", response={200: list[SequenceOut], **REFUSALS})
def list_sequences(request, active: bool | None = None):
    qs = Sequence.objects.prefetch_related("steps")
    if active is not None:
        qs = qs.filter(active=active)
    return [_sequence_out(s) for s in qs]


@router.post("/", response={201: SequenceOut, **REFUSALS}, summary="Create a sequence (managers)")
@refusals
def create_sequence(request, payload: SequenceIn):
    steps = [
        actions.StepInput(
            kind=s.kind, name=s.name, description=s.description, template_id=s.template_id, wait=_wait(s.wait_seconds)
        )
        for s in payload.steps
    ]
    sequence = actions.create_sequence(
        request.user, name=payload.name, description=payload.description, steps=steps, active=payload.active
    )
    return Status(201, _sequence_out(sequence))


def _sequence(sequence_id: DbId) -> Sequence:
    sequence = Sequence.objects.filter(pk=sequence_id).first()
    if sequence is None:
        raise HttpError(404, _("No such sequence."))
    return sequence


@router.get("/{int:sequence_id}", response={200: SequenceOut, **REFUSALS})
def get_sequence(request, sequence_id: DbId):
    return _sequence_out(_sequence(sequence_id))


@router.patch("/{int:sequence_id}", response={200: SequenceOut, **REFUSALS})
@refusals
def update_sequence(request, sequence_id: DbId, payload: SequencePatch):
    sequence = actions.update_sequence(request.user, sequence_id, **payload.dict(exclude_unset=True))
    return _sequence_out(sequence)


@router.delete("/{int:sequence_id}", response={204: None, **REFUSALS})
@refusals
def delete_sequence(request, sequence_id: DbId):
    actions.delete_sequence(request.user, sequence_id)
    return Status(204, None)


@router.post("/{int:sequence_id}/steps", response={201: StepOut, **REFUSALS})
@refusals
def add_step(request, sequence_id: DbId, payload: StepIn, position: OptionalSmallInt = None):
    step = actions.add_step(
        request.user,
        sequence_id,
        actions.StepInput(
            kind=payload.kind,
            name=payload.name,
            description=payload.description,
            template_id=payload.template_id,
            wait=_wait(payload.wait_seconds),
        ),
        position=position,
    )
    return Status(201, _step_out(step))


def _own_step(sequence_id: DbId, step_id: DbId) -> None:
    if not SequenceStep.objects.filter(pk=step_id, sequence_id=sequence_id).exists():
        raise HttpError(404, _("No such step."))


@router.patch("/{int:sequence_id}/steps/{int:step_id}", response={200: StepOut, **REFUSALS})
@refusals
def update_step(request, sequence_id: DbId, step_id: DbId, payload: StepPatch):
    _own_step(sequence_id, step_id)
    changes = payload.dict(exclude_unset=True)
    if "wait_seconds" in changes:
        changes["wait"] = _wait(changes.pop("wait_seconds"))
    return _step_out(actions.update_step(request.user, step_id, **changes))


@router.delete("/{int:sequence_id}/steps/{int:step_id}", response={204: None, **REFUSALS})
@refusals
def delete_step(request, sequence_id: DbId, step_id: DbId):
    _own_step(sequence_id, step_id)
    actions.delete_step(request.user, step_id)
    return Status(204, None)


@router.post(
    "/{int:sequence_id}/connections",
    response={200: list[ConnectOut], **REFUSALS},
    summary="Connect records (one or many); each record gets its own outcome",
)
@refusals
def connect(request, sequence_id: DbId, payload: ConnectIn):
    if not payload.record_keys:
        raise errors.InvalidInput(_("Give at least one record key."), code="no_records")
    if len(payload.record_keys) > 1000:
        raise errors.InvalidInput(_("At most 1000 records at a time."), code="too_many_records")
    return [r.__dict__ for r in actions.connect(request.user, sequence_id, payload.record_keys)]
