"""Refusals of sequence actions: kinds of :class:`textdesk.errors.Refusal`, so the API and the web views give
each the same status (``status``) and machine-readable ``code``."""

from __future__ import annotations

from textdesk import errors


class SequenceError(errors.Refusal):
    status = 400
    code = "invalid"

    def __init__(self, message: str, code: str | None = None, fields: dict | None = None) -> None:
        super().__init__(str(message), code=code or "")
        self.fields_by_name = fields or {}


class Invalid(SequenceError, errors.InvalidInput):
    status = 422
    code = "invalid"


class Forbidden(SequenceError, errors.Forbidden):
    status = 403
    code = "forbidden"


class NotFound(SequenceError, errors.NotFound):
    status = 404
    code = "not_found"


class Conflict(SequenceError, errors.Conflict):
    status = 409
    code = "conflict"
