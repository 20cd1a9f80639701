"""Every live event TextDesk pushes to a browser, in one place.

A live event is a JSON object with an ``event`` name and the fields that name promises; the browser
(``web/static/web/app.js``, ``sequences/static/sequences/live.js``) reacts to the name and reads the fields.
Each event has a typed constructor here, and :func:`validate` holds every published event to its type: an unknown
name, a missing field or a field of the wrong type is an :class:`InvalidEvent` with ``TEXTDESK_LIVE_EVENTS_STRICT=1``
(meant for tests), and a logged error otherwise (the event still goes out: a screen that refreshes a
little too much is better than one that stops).

Worker wake-ups (``bus.WAKE_CHANNEL``) are not live events: their payload is empty and nobody reads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from textdesk import config

log = logging.getLogger(__name__)

_INT = (int,)
_TEXT = (str,)
_OPTIONAL_INT = (int, type(None))
_OPTIONAL_TEXT = (str, type(None))


@dataclass(frozen=True)
class EventType:
    name: str
    required: dict[str, tuple[type, ...]]
    optional: dict[str, tuple[type, ...]]
    why: str


MESSAGE_NEW = EventType(
    "message.new",
    {"conversation_id": _INT, "message_id": _INT},
    {"direction": _TEXT, "status": _TEXT},
    "a message joined a conversation the user hears about (the inbox and the open conversation refresh)",
)
MESSAGE_STATUS = EventType(
    "message.status",
    {"conversation_id": _INT, "message_id": _INT, "status": _TEXT},
    {},
    "an outbound message changed status (sent, delivered, failed…)",
)
NOTIFICATION_NEW = EventType(
    "notification.new",
    {"unread": _INT},
    {"message_id": _INT, "kind": _TEXT},
    "the user got a notification: the bell shows ``unread``",
)
NOTIFICATION_READ = EventType(
    "notification.read",
    {"unread": _INT},
    {},
    "the user read notifications (on any tab): the bell shows ``unread``",
)
CONVERSATION_MOVED = EventType(
    "conversation.moved",
    {"conversation_id": _INT},
    {},
    "a conversation moved to another record or owner (lists refresh)",
)
SEQUENCE_CHANGED = EventType(
    "sequence.changed",
    {"connection_id": _INT, "record_key": _TEXT, "state": _TEXT},
    {
        "step_id": _OPTIONAL_INT,
        "step_kind": _OPTIONAL_TEXT,
        "due_at": _OPTIONAL_TEXT,
        "failure_reason": _OPTIONAL_TEXT,
    },
    "a record's place in a sales sequence changed (Up next and the work list refresh)",
)
LIVE_STATE = EventType(
    "live.state",
    {"state": _TEXT},
    {},
    "the live stream itself: ``degraded`` while events cannot be delivered (the page refreshes itself "
    "periodically instead), ``ok`` when they flow again",
)

VOCABULARY: dict[str, EventType] = {
    kind.name: kind
    for kind in (
        MESSAGE_NEW,
        MESSAGE_STATUS,
        NOTIFICATION_NEW,
        NOTIFICATION_READ,
        CONVERSATION_MOVED,
        SEQUENCE_CHANGED,
        LIVE_STATE,
    )
}


class InvalidEvent(ValueError):
    """An event that is not in the vocabulary, or does not carry what its type promises."""


def problems(data: dict) -> list[str]:
    """What is wrong with ``data`` as a live event (empty: nothing)."""
    if not isinstance(data, dict):
        return [f"an event is a JSON object, not {type(data).__name__}"]
    name = data.get("event")
    kind = VOCABULARY.get(name) if isinstance(name, str) else None
    if kind is None:
        return [f"unknown event {name!r}"]
    found = []
    for field, types in kind.required.items():
        if field not in data:
            found.append(f"{name}: missing {field!r}")
        elif not _is(data[field], types):
            found.append(f"{name}: {field!r} is {type(data[field]).__name__}")
    for field, value in data.items():
        if field == "event" or field in kind.required:
            continue
        if field not in kind.optional:
            found.append(f"{name}: unexpected field {field!r}")
        elif not _is(value, kind.optional[field]):
            found.append(f"{name}: {field!r} is {type(value).__name__}")
    return found


def _is(value, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # True is an int to Python, not to the browser
    return isinstance(value, types)


def strict() -> bool:
    from django.conf import settings

    configured = getattr(settings, "LIVE_EVENTS_STRICT", None)
    if configured is not None:
        return bool(configured)
    # Tests fail on a malformed event; in production it is logged and dropped, never raised into a request.
    return config.env_bool("LIVE_EVENTS_STRICT", default=(config.env("ENV") or "").lower() == "test")


def validate(channel: str, data: dict) -> None:
    """Hold one event about to be published to its type (see the module's docstring)."""
    from textdesk.live import bus

    if channel == bus.WAKE_CHANNEL:
        return
    found = problems(data)
    if not found:
        return
    if strict():
        raise InvalidEvent("; ".join(found))
    log.error("invalid live event on %s: %s", channel, "; ".join(found))


def _event(kind: EventType, /, **fields) -> dict:  # positional-only: "kind" is also a field name
    data = {"event": kind.name, **{k: v for k, v in fields.items() if v is not None or k in kind.required}}
    if kind is SEQUENCE_CHANGED:  # its optional fields are announced even when empty (the page reads them)
        data = {"event": kind.name, **fields}
    found = problems(data)
    if found:
        raise InvalidEvent("; ".join(found))
    return data


# Typed constructors: what a publisher should build its event with.


def message_new(conversation_id: int, message_id: int, direction: str | None = None, status: str | None = None):
    return _event(
        MESSAGE_NEW, conversation_id=conversation_id, message_id=message_id, direction=direction, status=status
    )


def message_status(conversation_id: int, message_id: int, status: str) -> dict:
    return _event(MESSAGE_STATUS, conversation_id=conversation_id, message_id=message_id, status=str(status))


def notification_new(unread: int, message_id: int | None = None, kind: str | None = None) -> dict:
    return _event(NOTIFICATION_NEW, unread=unread, message_id=message_id, kind=None if kind is None else str(kind))


def notification_read(unread: int) -> dict:
    return _event(NOTIFICATION_READ, unread=unread)


def conversation_moved(conversation_id: int) -> dict:
    return _event(CONVERSATION_MOVED, conversation_id=conversation_id)


def sequence_changed(
    connection_id: int,
    record_key: str,
    state: str,
    step_id: int | None = None,
    step_kind: str | None = None,
    due_at: str | None = None,
    failure_reason: str | None = None,
) -> dict:
    return _event(
        SEQUENCE_CHANGED,
        connection_id=connection_id,
        record_key=record_key,
        state=str(state),
        step_id=step_id,
        step_kind=step_kind,
        due_at=due_at,
        failure_reason=failure_reason,
    )


def bus_state(ok: bool) -> dict:
    return _event(LIVE_STATE, state="ok" if ok else "degraded")
