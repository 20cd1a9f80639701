"""Small helpers shared by the ACS, Infobip, Telesign and MessageBird adapters.

They translate transport failures into the neutral error hierarchy and read webhook bodies.
Everything provider-specific (codes, field names) stays in the provider modules.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import httpx

from textdesk.domain import failures
from textdesk.providers.base import (
    OutcomeUnknownError,
    PermanentProviderError,
    RetryableProviderError,
    WebhookRejected,
    WebhookRequest,
)


def send_request(client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    """Perform one HTTP call; a failure *before* the request left us is retryable, *after* it is unknown."""
    try:
        return client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the provider: sending again is safe.
        raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, text=str(exc) or type(exc).__name__) from exc
    except httpx.TransportError as exc:
        # Read timeout, connection reset after the body was written, malformed answer: the provider may
        # have accepted the message, so only a lookup or the customer can tell.
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, text=str(exc) or type(exc).__name__) from exc


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def raise_for_transport_status(response: httpx.Response, code: str = "", text: str = "") -> None:
    """The HTTP answers whose meaning does not depend on the provider: 429, 5xx, 401/403."""
    status = response.status_code
    code = code or str(status)
    if status == 429:
        raise RetryableProviderError(failures.RATE_LIMITED, code, text, retry_after=retry_after(response))
    if status >= 500:
        raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, code, text, retry_after=retry_after(response))
    if status in (401, 403):
        raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, code, text)


def json_or_empty(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return {}


def response_json_object(response: httpx.Response) -> dict:
    """A success answer must be a JSON object; anything else means we cannot know what happened."""
    try:
        data = response.json()
    except ValueError as exc:
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, str(response.status_code),
                                  "the provider's answer is not JSON") from exc
    if not isinstance(data, dict):
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, str(response.status_code),
                                  "the provider's answer is not a JSON object")
    return data


# ---------------------------------------------------------------- webhooks


def webhook_json(request: WebhookRequest) -> object:
    if not request.body:
        raise WebhookRejected(400, "empty body")
    try:
        return json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not UTF-8") from None
    except ValueError:
        raise WebhookRejected(400, "body is not valid JSON") from None


def webhook_params(request: WebhookRequest) -> dict[str, str]:
    """Query string and form fields (form wins), first value of each; JSON object bodies too."""
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query, keep_blank_values=True))
    if request.body:
        if request.content_type == "application/json":
            data = webhook_json(request)
            if not isinstance(data, dict):
                raise WebhookRejected(400, "JSON body is not an object")
            params.update({k: "" if v is None else str(v) for k, v in data.items()})
        else:
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                raise WebhookRejected(400, "body is not UTF-8") from None
            params.update(dict(urllib.parse.parse_qsl(text, keep_blank_values=True)))
    return params


def lower_keys(value: object) -> object:
    """Recursively lower-case dictionary keys (for payloads whose key casing changed over time)."""
    if isinstance(value, Mapping):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def parse_timestamp(value: object) -> dt.datetime | None:
    """ISO 8601 (with ``Z`` or ``+0000``) or RFC 1123; None when absent or unreadable."""
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
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def e164(number: object) -> str:
    """Provider numbers often come without '+': add it to digit-only international numbers."""
    text = str(number or "").strip()
    if text.isdigit() and len(text) > 6:
        return "+" + text
    return text


def digits(number: str) -> str:
    """International number without the leading '+', as several APIs want it."""
    return number[1:] if number.startswith("+") else number
