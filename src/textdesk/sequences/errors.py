"""Refusals of sequence actions, each with a status the API and web views return as is."""

from __future__ import annotations


class SequenceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, code: str | None = None, fields: dict | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code
        self.fields = fields or {}


class Invalid(SequenceError):
    status = 400
    code = "invalid"


class Forbidden(SequenceError):
    status = 403
    code = "forbidden"


class NotFound(SequenceError):
    status = 404
    code = "not_found"


class Conflict(SequenceError):
    status = 409
    code = "conflict"
