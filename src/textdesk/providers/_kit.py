"""Small helpers shared by the Vonage, Telnyx and Plivo adapters (nothing provider-specific here)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx

from textdesk.domain import failures
from textdesk.providers.base import (
    OutcomeUnknownError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
    WebhookRejected,
)

@dataclass(frozen=True)
class ErrorMeaning:
    """What a provider's error code means in neutral terms."""

    reason: str
    permanent: bool
    opt_out: bool = False

    def error(self, code: str, text: str) -> ProviderError:
        cls = PermanentProviderError if self.permanent else RetryableProviderError
        return cls(self.reason, code, text, opt_out=self.opt_out)


def credential(account, name: str) -> str:
    """A credential the request needs; a missing one fails the send before anything leaves."""
    value = account.credentials.get(name)
    if not value:
        raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, "", f"the account has no {name}")
    return str(value)


def timeout_for(options: Mapping[str, object]):
    """How long to wait for the provider: the caller's ``httpx.Client`` decides, unless the account sets
    ``options["timeout"]`` (seconds). A slow answer becomes OutcomeUnknownError either way."""
    seconds = options.get("timeout")
    if seconds is None:
        return httpx.USE_CLIENT_DEFAULT
    return httpx.Timeout(float(seconds))


def request(client: httpx.Client, method: str, url: str, *, timeout, **kwargs) -> httpx.Response:
    """One HTTP call; transport failures become neutral errors.

    Failing to connect means the provider never saw the request (safe to retry). Anything after the
    request started going out (write/read timeout, dropped connection) leaves the outcome unknown.
    """
    try:
        return client.request(method, url, timeout=timeout, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, "", f"connection failed: {exc}") from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", f"no answer: {exc}") from exc


def raise_for_transient(response: httpx.Response, code: str = "", text: str = "") -> None:
    """429 → retryable (with Retry-After); 5xx → retryable, except 504, whose upstream may have taken
    the message (outcome unknown)."""
    status = response.status_code
    text = text or response.reason_phrase
    if status == 429:
        raise RetryableProviderError(failures.RATE_LIMITED, code or "429", text,
                                     retry_after=retry_after_seconds(response))
    if status == 504:
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, code or "504", text)
    if status >= 500:
        raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, code or str(status), text,
                                     retry_after=retry_after_seconds(response))


def raise_for_auth(response: httpx.Response, code: str = "", text: str = "") -> None:
    """401/403 → our credentials were refused (checked after the provider's own error codes, which
    may use 403 for other meanings)."""
    if response.status_code in (401, 403):
        raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, code or str(response.status_code),
                                     text or response.reason_phrase)


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: let the worker use its own back-off


def json_body(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- webhooks


def query_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def webhook_params(request, *, allow_json: bool = False) -> dict[str, str]:
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
    if request.content_type not in ("application/x-www-form-urlencoded", ""):
        raise WebhookRejected(415, f"unsupported content type {request.content_type!r}")
    try:
        return dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
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


def json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "JSON body is not an object")
    return data


def require(params: Mapping[str, object], *names: str) -> None:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise WebhookRejected(400, f"missing field(s): {', '.join(missing)}")


def check_timestamp_window(timestamp: str, now: dt.datetime, window_seconds: int) -> None:
    """Reject a signed timestamp that is not within ``window_seconds`` of now (replay protection)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise WebhookRejected(400, "signature timestamp is not a unix time") from None
    skew = abs(now.timestamp() - ts)
    if skew > window_seconds:
        raise WebhookRejected(403, f"signature timestamp outside the {window_seconds} s window")


def to_int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# GSM 03.38 basic set and extension table: text that fits needs no UCS-2 (providers that want the
# encoding declared, like Vonage's SMS API, are told "unicode" otherwise).
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)
