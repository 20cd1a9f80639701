"""Reading a provider's webhook: parameters, JSON bodies, the signed-timestamp window, constant-time compares,
and the values providers write (numbers without '+', assorted timestamp formats).

Everything here answers a malformed request with ``WebhookRejected`` (400 malformed, 403 stale, 415 wrong
content type), never with another exception. Provider-specific field names stay in the provider modules.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, parse_qsl, urlsplit

from textdesk.providers.base import WebhookRejected, WebhookRequest

FORM_TYPES = ("application/x-www-form-urlencoded", "")


# ---------------------------------------------------------------- parameters


def query_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def query_fields(url: str) -> dict[str, list[str]]:
    """The query string with every value of a repeated name (what signature schemes cover)."""
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def form_fields(body: bytes) -> dict[str, list[str]]:
    """A form body with every value of a repeated name."""
    return {name: list(values) for name, values in _parsed_form(body)}


@functools.lru_cache(maxsize=32)
def _parsed_form(body: bytes) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The signature check and the parser of one webhook both read its form: it is decoded once.

    (Percent-decoding is most of a webhook's parsing time; the callers get fresh containers.)"""
    return tuple((name, tuple(values)) for name, values in parse_qs(_utf8(body), keep_blank_values=True).items())


def sent_fields(request: WebhookRequest) -> dict[str, list[str]]:
    """What a provider sent as a form: the query of a GET, the form body of a POST (415 for another type)."""
    if request.method.upper() == "GET":
        return query_fields(request.url)
    if request.content_type not in FORM_TYPES:
        raise WebhookRejected(415, f"unsupported content type {request.content_type!r}")
    return form_fields(request.body)


def webhook_params(request: WebhookRequest, *, allow_json: bool = False) -> dict[str, str]:
    """The parameters a provider sent: the query of a GET, the body (form, or JSON when allowed) of a POST.

    A POST's own URL query is ours (e.g. a routing token), not the provider's, so it is left out.
    Repeated names keep their last value; provider SMS webhooks never repeat a name.
    """
    if request.method.upper() == "GET":
        return query_params(request.url)
    if request.content_type == "application/json":
        if not allow_json:
            raise WebhookRejected(415, "JSON body not expected for this webhook")
        return {key: _as_text(value) for key, value in json_object(request.body).items()}
    if request.content_type not in FORM_TYPES:
        raise WebhookRejected(415, f"unsupported content type {request.content_type!r}")
    return {name: values[-1] for name, values in _parsed_form(request.body)}


def merged_params(request: WebhookRequest) -> dict[str, str]:
    """Query string and body fields together (body wins), for providers that send either or both
    (MessageBird). The body may be a form or a JSON object; a repeated name keeps its last value."""
    params = query_params(request.url)
    if request.body:
        if request.content_type == "application/json":
            data = json_value(request.body)
            if not isinstance(data, dict):
                raise WebhookRejected(400, "JSON body is not an object")
            params.update({k: "" if v is None else str(v) for k, v in data.items()})
        else:
            params.update(dict(parse_qsl(_utf8(request.body), keep_blank_values=True)))
    return params


def require(params: Mapping[str, object], *names: str) -> None:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise WebhookRejected(400, f"missing field(s): {', '.join(missing)}")


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not UTF-8") from None


def _as_text(value: object) -> str:
    """A JSON value as the text a form would have carried ("true", "3", "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# ---------------------------------------------------------------- JSON bodies


def json_value(body: bytes) -> object:
    """Any JSON value (an Event Grid delivery is an array); 400 when empty, not UTF-8 or not JSON."""
    if not body:
        raise WebhookRejected(400, "empty body")
    try:
        return json.loads(_utf8(body))
    except ValueError:
        raise WebhookRejected(400, "body is not valid JSON") from None


def json_object(body: bytes) -> dict:
    data = json_value(body)
    if not isinstance(data, dict):
        raise WebhookRejected(400, "JSON body is not an object")
    return data


def lower_keys(value: object) -> object:
    """Recursively lower-case dictionary keys (for payloads whose key casing changed over time)."""
    if isinstance(value, Mapping):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


# ---------------------------------------------------------------- authenticity


def same_secret(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of a signature, hash or secret. Text is compared as UTF-8 bytes, so a
    header with non-ASCII characters is simply unequal (``hmac.compare_digest`` refuses such text)."""
    if isinstance(given, str):
        given = given.encode("utf-8")
    if isinstance(expected, str):
        expected = expected.encode("utf-8")
    return hmac.compare_digest(given, expected)


def check_timestamp_window(timestamp: str, now: dt.datetime, window_seconds: int) -> None:
    """Reject a signed timestamp that is not within ``window_seconds`` of now (replay protection)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise WebhookRejected(400, "signature timestamp is not a unix time") from None
    skew = abs(now.timestamp() - ts)
    if skew > window_seconds:
        raise WebhookRejected(403, f"signature timestamp outside the {window_seconds} s window")


def signature_window(options: Mapping[str, object], default: int) -> int:
    """The account's ``signature_window`` option (seconds), else ``default``."""
    value = options.get("signature_window") or default
    if not isinstance(value, int | float | str):
        raise TypeError(f"options['signature_window'] must be a number of seconds, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- values


def to_int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def parse_timestamp(value: object) -> dt.datetime | None:
    """ISO 8601 (``T`` or space, with ``Z``, ``+00:00`` or ``+0000``; UTC when no offset) or RFC 1123;
    None when absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        # "+0000" → "+00:00" for fromisoformat on 3.11
        if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
            text = text[:-2] + ":" + text[-2:]
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def e164(number: object) -> str:
    """Provider numbers often come without '+': add it to digit-only international numbers."""
    text = str(number or "").strip()
    if text.isdigit() and len(text) > 6:
        return "+" + text
    return text
