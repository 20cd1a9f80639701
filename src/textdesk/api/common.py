"""What every API module shares: error answers, pagination, phone output, lookups."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja import errors as ninja_errors
from pydantic import Field, create_model

from textdesk import errors
from textdesk.messaging.crypto import CredentialsUnreadable

M = TypeVar("M", bound=Model)

MAX_LIMIT = 200
# Integers the API reads are bounded to what the database can store: PostgreSQL's bigint (ids) and integer
# columns. A larger number is a 422 naming the parameter, never a database error.
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
MAX_OFFSET = 10**9

DbId = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="an id")]
OptionalDbId = Annotated[int | None, Field(ge=1, le=BIGINT_MAX)]
OptionalSmallInt = Annotated[int | None, Field(ge=-INT_MAX, le=INT_MAX)]


class FieldErrorOut(Schema):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(Schema):
    """The one error shape of the API (``textdesk.errors``): see docs/API.md."""

    detail: str | list[FieldErrorOut] = Field(
        description="what went wrong, in the caller's language; for invalid input (422), one entry per field"
    )
    code: str = Field("", description="machine-readable kind of refusal (absent on 401)")
    fix: str = Field("", description="what to do about it, when known")


# Kept as a name: operations document their 422 answers with it.
ValidationErrorOut = ErrorOut

# The answers any operation may give besides its own: no or bad token, too many bad tokens, unreadable input.
COMMON_ERRORS = {401: ErrorOut, 422: ErrorOut, 429: ErrorOut}
ERRORS = {**COMMON_ERRORS, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}
READ_ERRORS = {**COMMON_ERRORS, 403: ErrorOut, 404: ErrorOut}


class PhoneOut(Schema):
    raw: str = Field(description="as entered")
    e164: str = Field(description="E.164 form; empty when the number cannot be read")
    is_valid: bool


def phone_out(record: Any, field: str) -> dict:
    e164 = getattr(record, f"{field}_e164")
    return {"raw": getattr(record, field), "e164": e164, "is_valid": bool(e164)}


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def page_schema(item: type[Schema]) -> type[Schema]:
    return create_model(
        f"{item.__name__.removesuffix('Out')}Page",
        __base__=Schema,
        count=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
        items=(list[item], ...),  # type: ignore[valid-type]  # a model built at run time from its argument
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
    for field, errors_ in exc.message_dict.items():
        loc = ["body"] if field == "__all__" else ["body", field]
        out += [{"loc": loc, "msg": str(m), "type": "invalid"} for m in errors_]
    return out


def _input_errors(exc: ninja_errors.ValidationError) -> list[dict]:
    """Pydantic's errors as the API's field errors (its ``ctx`` may hold objects JSON cannot carry)."""
    return [
        {"loc": list(e.get("loc", [])), "msg": str(e.get("msg", "")), "type": str(e.get("type", "invalid"))}
        for e in exc.errors
    ]


def as_refusal(exc: Exception) -> errors.Refusal:
    """Any exception an operation lets through, as the refusal it stands for (see docs/API.md)."""
    if isinstance(exc, errors.Refusal):
        return exc
    if isinstance(exc, ninja_errors.ValidationError):
        return errors.InvalidInput(fields=_input_errors(exc))
    if isinstance(exc, ValidationError):
        return errors.InvalidInput(fields=_field_errors(exc))
    if isinstance(exc, PermissionDenied):
        return errors.Forbidden(str(exc))
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return errors.NotFound(str(exc))
    if isinstance(exc, DataError):  # a value the database cannot hold (a date out of range, say): the client's
        return errors.InvalidInput(fields=[{"loc": ["query"], "msg": str(exc).splitlines()[0], "type": "out_of_range"}])
    if isinstance(exc, IntegrityError):
        return errors.Conflict(
            _(
                "This conflicts with existing data (a value that must be unique is taken, or a "
                "referenced item is in use)."
            )
        )
    if isinstance(exc, CredentialsUnreadable):
        return errors.Conflict(str(exc), code="credentials_unreadable")
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is out of reach (or a lost race outlived its retries, or no pooled connection came in
        # time): nothing was kept, try again soon.
        return errors.database_unavailable()
    if isinstance(exc, ninja_errors.HttpError):
        if exc.status_code == 400:  # e.g. a body that is not JSON: invalid input, like every other
            return errors.InvalidInput(fields=[{"loc": ["body"], "msg": str(exc), "type": "unreadable"}])
        return errors.for_status(exc.status_code, str(exc))
    raise TypeError(exc)


DATABASE_RETRY_AFTER = errors.DATABASE_RETRY_AFTER


def install_error_handlers(api: NinjaAPI) -> None:
    """Every refusal as JSON in the one error shape (``textdesk.errors``), with the status its kind fixes."""

    def render(request: HttpRequest, exc: Exception) -> HttpResponse:
        return errors.api_response(as_refusal(exc))

    def unauthorized(request: HttpRequest, exc: ninja_errors.AuthenticationError) -> HttpResponse:
        # The one error without a code: a client tells a missing or bad token by the status alone.
        return api.create_response(request, {"detail": "Unauthorized"}, status=401)

    for kind in (
        errors.Refusal,
        ninja_errors.ValidationError,
        ValidationError,
        PermissionDenied,
        Http404,
        ObjectDoesNotExist,
        DataError,
        IntegrityError,
        CredentialsUnreadable,
        OperationalError,
        InterfaceError,
        ninja_errors.HttpError,
    ):
        # django-ninja types a handler's argument as "the exception or its class"; it passes the exception.
        api.add_exception_handler(kind, render)  # type: ignore[arg-type]
    api.add_exception_handler(ninja_errors.AuthenticationError, unauthorized)  # type: ignore[arg-type]


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
