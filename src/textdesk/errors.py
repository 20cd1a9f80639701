"""One root for every refusal TextDesk answers, and one renderer per surface.

An action refuses by raising a :class:`Refusal` subclass; the kind fixes the HTTP status, so the same
refusal gets the same status on every screen (REST API, web page or pane, webhook):

==================  ======  ================  ==============================================
class               status  default ``code``  when
==================  ======  ================  ==============================================
``InvalidInput``    422     ``invalid``       the input cannot be used as given
``Forbidden``       403     ``forbidden``     the caller's role or reach does not allow it
``NotFound``        404     ``not_found``     nothing the caller may see has that id
``Conflict``        409     ``conflict``      it contradicts what is stored (taken, moved on)
``RateLimited``     429     ``rate_limited``  too many attempts; ``Retry-After`` says when
``Unavailable``     503     ``unavailable``   a dependency is down; ``Retry-After`` says when
==================  ======  ================  ==============================================

The renderers: :func:`api_response` (JSON in the one shape documented in docs/API.md),
:func:`page_response` (an error page in the app's layout and the user's language) and
:func:`webhook_answer` (the small JSON a provider reads).
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

log = logging.getLogger(__name__)


class Refusal(Exception):
    """A request TextDesk will not carry out: a status, a machine-readable ``code``, words a person can act on.

    ``fields`` lists what was wrong with the input, each ``{"loc": [...], "msg": "...", "type": "..."}``; when
    given, the API answers them as ``detail`` (the shape of invalid input everywhere in the API).
    """

    status = 400
    code = "refused"
    default_message = gettext_lazy("The request was refused.")

    def __init__(
        self,
        message: str = "",
        *,
        code: str = "",
        fix: str = "",
        fields: list[dict] | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = str(message or self.default_message)
        super().__init__(self.message)
        if code:
            self.code = code
        self.fix = str(fix or "")
        self.fields = fields or []
        self.retry_after = retry_after

    def as_json(self) -> dict:
        """The API's error body: ``detail`` (text, or the list of field errors), ``code``, and ``fix`` when known."""
        body: dict = {"detail": self.fields or self.message, "code": self.code}
        if self.fix:
            body["fix"] = self.fix
        return body


class InvalidInput(Refusal):
    status = 422
    code = "invalid"
    default_message = gettext_lazy("The input is not valid.")


class Forbidden(Refusal):
    status = 403
    code = "forbidden"
    default_message = gettext_lazy("Your role does not allow this.")


class NotFound(Refusal):
    status = 404
    code = "not_found"
    default_message = gettext_lazy("Not found.")


class Conflict(Refusal):
    status = 409
    code = "conflict"
    default_message = gettext_lazy("This conflicts with what is stored.")


class RateLimited(Refusal):
    status = 429
    code = "rate_limited"
    default_message = gettext_lazy("Too many attempts. Wait a while, then try again.")


class Unavailable(Refusal):
    status = 503
    code = "unavailable"
    default_message = gettext_lazy("The service is temporarily unavailable. Try again in a moment.")


# Status of answers that were not raised as a Refusal (Django's own 404, a wrong method, a crash): their code.
CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: Forbidden.code,
    404: NotFound.code,
    405: "method_not_allowed",
    409: Conflict.code,
    413: "too_large",
    422: InvalidInput.code,
    429: RateLimited.code,
    500: "server_error",
    503: Unavailable.code,
}


def for_status(status: int, message: str = "") -> Refusal:
    """A refusal of the given status (for answers that arrive as a status, not as one of our exceptions)."""
    kind = {cls.status: cls for cls in (InvalidInput, Forbidden, NotFound, Conflict, RateLimited, Unavailable)}
    refusal = kind.get(status, Refusal)(message, code=CODE_BY_STATUS.get(status, "error"))
    refusal.status = status
    return refusal


# Seconds a client is asked to wait when the database is out of reach (a cut usually lasts seconds) or every pooled
# connection stayed busy for the pool's timeout.
DATABASE_RETRY_AFTER = 5


def database_unavailable() -> Unavailable:
    """The database could not be reached (or no pooled connection came in time): nothing was done, try again soon."""
    return Unavailable(retry_after=DATABASE_RETRY_AFTER)


def server_error() -> Refusal:
    refusal = Refusal(_("Something went wrong on our side. It has been logged; try again later."), code="server_error")
    refusal.status = 500
    return refusal


def _headers(refusal: Refusal) -> dict:
    return {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else {}


# ---------------------------------------------------------------- the renderers


def api_response(refusal: Refusal) -> JsonResponse:
    """REST API: the refusal as JSON in the one error shape."""
    return JsonResponse(refusal.as_json(), status=refusal.status, headers=_headers(refusal))


def page_response(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    """Web app: an error page in the app's layout, in the user's language.

    When the page itself cannot be drawn (a 500 because the database is down: the layout reads the user's
    notifications) the answer is a bare page with the same words, never a second crash.
    """
    from django.shortcuts import render

    titles = {
        403: _("You cannot open this page"),
        404: _("Page not found"),
        500: _("Something went wrong"),
        503: _("Temporarily unavailable"),
    }
    title = titles.get(refusal.status, _("The request was refused"))
    context = {
        "status": refusal.status,
        "title": title,
        "message": refusal.message,
        "fix": refusal.fix,
    }
    try:
        response = render(request, "web/error.html", context, status=refusal.status)
        for name, value in _headers(refusal).items():
            response[name] = value
        return response
    except Exception:
        log.exception("the error page could not be drawn")
        return plain_page_response(refusal, title)


def plain_page_response(refusal: Refusal, title: str = "") -> HttpResponse:
    """The error page without the app's layout (which reads the database): when the database is what failed."""
    from django.utils.html import escape

    title = title or _("Temporarily unavailable")
    html = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(refusal.message)}</p>"
    return HttpResponse(html, status=refusal.status, headers=_headers(refusal))


def webhook_answer(refusal: Refusal) -> tuple[int, bytes]:
    """Provider webhooks: the status and a small JSON body ``{"error": "..."}`` (providers log it, nobody reads it)."""
    return refusal.status, json.dumps({"error": refusal.message}).encode()


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def response_for(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    """The refusal rendered for the surface the request came from."""
    return api_response(refusal) if is_api_request(request) else page_response(request, refusal)
