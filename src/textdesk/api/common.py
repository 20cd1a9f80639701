"""What every API module shares: error answers, pagination, phone output, lookups."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from pydantic import Field, create_model

from textdesk.messaging.crypto import CredentialsUnreadable

M = TypeVar("M", bound=Model)

MAX_LIMIT = 200


class ErrorOut(Schema):
    detail: str


class FieldErrorOut(Schema):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(Schema):
    detail: list[FieldErrorOut]


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut}
READ_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ValidationErrorOut}


class PhoneOut(Schema):
    raw: str = Field(description="as entered")
    e164: str = Field(description="E.164 form; empty when the number cannot be read")
    is_valid: bool


def phone_out(record: Any, field: str) -> dict:
    e164 = getattr(record, f"{field}_e164")
    return {"raw": getattr(record, field), "e164": e164, "is_valid": bool(e164)}


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")
    offset: int = Field(0, ge=0)


def page_schema(item: type[Schema]) -> type[Schema]:
    return create_model(
        f"{item.__name__.removesuffix('Out')}Page",
        __base__=Schema,
        count=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
        items=(list[item], ...),
    )


def paginate(queryset: QuerySet, page: PageQuery) -> dict:
    return {
        "count": queryset.count(),
        "limit": page.limit,
        "offset": page.offset,
        "items": list(queryset[page.offset : page.offset + page.limit]),
    }


def get_or_404(queryset: QuerySet[M] | type[M], **lookup) -> M:
    qs = queryset if isinstance(queryset, QuerySet) else queryset._default_manager.all()
    obj = qs.filter(**lookup).first()
    if obj is None:
        raise Http404(
            _("No %(what)s matches %(lookup)s.")
            % {
                "what": qs.model._meta.verbose_name,
                "lookup": ", ".join(f"{k}={v}" for k, v in lookup.items()),
            }
        )
    return obj


def _field_errors(exc: ValidationError) -> list[dict]:
    if not hasattr(exc, "error_dict"):
        return [{"loc": ["body"], "msg": str(m), "type": "invalid"} for m in exc.messages]
    out = []
    for field, errors in exc.message_dict.items():
        loc = ["body"] if field == "__all__" else ["body", field]
        out += [{"loc": loc, "msg": str(m), "type": "invalid"} for m in errors]
    return out


def install_error_handlers(api: NinjaAPI) -> None:
    """Precise 4xx JSON instead of a 500 for the errors actions raise."""

    def validation(request, exc: ValidationError):
        return api.create_response(request, {"detail": _field_errors(exc)}, status=422)

    def denied(request, exc: PermissionDenied):
        return api.create_response(request, {"detail": str(exc) or _("Your role does not allow this.")}, status=403)

    def not_found(request, exc: Exception):
        return api.create_response(request, {"detail": str(exc) or _("Not found.")}, status=404)

    def conflict(request, exc: IntegrityError):
        return api.create_response(
            request,
            {
                "detail": _(
                    "This conflicts with existing data (a value that must be unique is taken, or a "
                    "referenced item is in use)."
                )
            },
            status=409,
        )

    def unreadable(request, exc: CredentialsUnreadable):
        return api.create_response(request, {"detail": str(exc)}, status=409)

    api.add_exception_handler(ValidationError, validation)
    api.add_exception_handler(PermissionDenied, denied)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(ObjectDoesNotExist, not_found)
    api.add_exception_handler(IntegrityError, conflict)
    api.add_exception_handler(CredentialsUnreadable, unreadable)


__all__ = [
    "ERRORS",
    "READ_ERRORS",
    "ErrorOut",
    "PageQuery",
    "PhoneOut",
    "get_or_404",
    "install_error_handlers",
    "page_schema",
    "paginate",
    "phone_out",
]
