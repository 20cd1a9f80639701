"""Request guards and error rendering shared by the web app and the REST API."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from django.http import HttpRequest
from django.utils.translation import gettext as _

from textdesk import errors

# Form and JSON bodies are checked; file uploads (multipart) are left to the view that reads them.
_CHECKED_BODIES = ("application/json", "application/x-www-form-urlencoded")


def unstorable_character(text: str) -> str | None:
    """The first character no database column can hold (NUL, or half of a surrogate pair), if any."""
    for ch in text:
        if ch == "\x00" or "\ud800" <= ch <= "\udfff":
            return ch
    return None


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unstorable_input(request: HttpRequest) -> str | None:
    """Where the request carries text that cannot be stored: "path", "query" or "body"; None when it is clean."""
    if unstorable_character(request.path):
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or any(unstorable_character(k + v) for k, v in parse_qsl(query, keep_blank_values=True)):
        return "query"
    content_type = request.content_type or ""
    if request.method in ("POST", "PUT", "PATCH") and content_type in _CHECKED_BODIES:
        try:
            raw = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return "body"
        if content_type == "application/json":
            try:
                document = json.loads(raw)
            except ValueError:
                return None  # not JSON at all: the view's parser answers that
            if any(unstorable_character(s) for s in _strings(document)):
                return "body"
        elif "%00" in raw or any(unstorable_character(k + v) for k, v in parse_qsl(raw, keep_blank_values=True)):
            return "body"
    return None


class RefusalMiddleware:
    """Every refusal rendered for its surface, and text nobody can store refused before any view runs.

    - A NUL character or a lone surrogate in the path, the query or a form/JSON body is a 422 (PostgreSQL
      cannot store NUL, and no encoder writes half a surrogate pair; both used to become 500s).
    - A :class:`textdesk.errors.Refusal` a web view lets through becomes the error page; under ``/api/``
      the API's own handlers answer first.
    - Under ``/api/`` an error answered without a JSON body (a wrong method's 405) gets the one JSON shape.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _unstorable_input(request)
        if where is not None:
            refusal = errors.InvalidInput(
                _("The request contains a character that cannot be stored (NUL or an unpaired surrogate)."),
                fields=[
                    {
                        "loc": [where],
                        "msg": _("A NUL character or an unpaired surrogate is not allowed."),
                        "type": "unstorable_character",
                    }
                ],
            )
            return errors.response_for(request, refusal)
        response = self.get_response(request)
        if errors.is_api_request(request) and response.status_code >= 400 and not _is_json(response):
            answer = errors.api_response(errors.for_status(response.status_code, _reason(response)))
            if response.has_header("Allow"):
                answer["Allow"] = response["Allow"]
            return answer
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, errors.Refusal):
            return errors.response_for(request, exception)
        return None


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _reason(response) -> str:
    if response.status_code == 405:
        return _("This method is not allowed here. Allowed: %(methods)s.") % {"methods": response.get("Allow", "")}
    return response.reason_phrase
