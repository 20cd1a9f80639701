"""Calling a provider's REST API: transport failures and HTTP answers → the neutral error hierarchy.

Every adapter sends through :func:`send_request` and reads the provider-independent HTTP statuses with
:func:`raise_for_busy` and :func:`raise_for_auth`; only the provider's own error codes stay in its module.
The whole translation, once:

==========================================  ==========================  ===================================
what happened                               error                       neutral reason
==========================================  ==========================  ===================================
could not connect (refused, DNS, connect     RetryableProviderError      PROVIDER_UNAVAILABLE
or pool timeout): nothing reached them
any other transport failure (read/write     OutcomeUnknownError         OUTCOME_UNKNOWN
timeout, reset, broken answer): the
request may have been taken
HTTP 429                                    RetryableProviderError      RATE_LIMITED (+ ``retry_after``)
HTTP 504 (a gateway in front of the        OutcomeUnknownError         OUTCOME_UNKNOWN
provider gave up waiting: the provider
may have taken it)
any other HTTP 5xx                          RetryableProviderError      PROVIDER_UNAVAILABLE (+ ``retry_after``)
HTTP 401 / 403                              PermanentProviderError      PROVIDER_AUTH_FAILED
2xx whose body is not a JSON object         OutcomeUnknownError         OUTCOME_UNKNOWN
(:func:`answer_object`)
==========================================  ==========================  ===================================

The worker resends after an ``OutcomeUnknownError`` only when the adapter ``supports_idempotency`` (the same
idempotency key makes the resend the same message); otherwise the message is marked ``unknown``.

``retry_after`` is the ``Retry-After`` header in seconds (a number, or an HTTP date turned into seconds from
now; never negative), or None when absent or unreadable (the worker then uses its own back-off).

401/403 is a separate check because some providers use 403 for refusals of their own, which their error
codes explain: adapters look their codes up first and call :func:`raise_for_auth` afterwards. The error
``code`` is the provider's code when the adapter has one, else the HTTP status; ``text`` is the provider's
message, else the HTTP reason phrase.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from textdesk.domain import failures
from textdesk.providers.base import (
    OutcomeUnknownError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)


@dataclass(frozen=True)
class ErrorMeaning:
    """What a provider's error code means in neutral terms."""

    reason: str  # neutral reason (textdesk.domain.failures)
    permanent: bool  # False: the same request may succeed later
    opt_out: bool = False

    def error(self, code: str, text: str, retry_after: float | None = None) -> ProviderError:
        return refusal(self.reason, self.permanent, code, text, opt_out=self.opt_out, retry_after=retry_after)


def refusal(
    reason: str,
    permanent: bool,
    code: str = "",
    text: str = "",
    *,
    opt_out: bool = False,
    retry_after: float | None = None,
) -> ProviderError:
    """The error for a refusal the provider explained: permanent or retryable as its code says."""
    cls = PermanentProviderError if permanent else RetryableProviderError
    return cls(reason, code, text, opt_out=opt_out, retry_after=retry_after)


# ---------------------------------------------------------------- the answer as adapters read it


class Answer(Protocol):
    """What an adapter reads of a provider's HTTP answer: an ``httpx.Response`` (the sync path) or a
    :class:`PlainAnswer` (the pipelined path)."""

    @property
    def status_code(self) -> int: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def headers(self) -> Any: ...  # case-insensitive ``get(name, default)``

    def json(self) -> Any: ...


class PlainAnswer:
    """An answer read by aiohttp, as an :class:`Answer`: its status, headers (case-insensitive) and body. Building an
    ``httpx.Response`` for each (header normalisation, content decoders, a byte stream) cost a sixth of the send
    loop's CPU; the adapters read only these four things."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: Any, content: bytes) -> None:
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def reason_phrase(self) -> str:
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    def json(self) -> Any:
        return json.loads(self.content)  # bytes: the encoding is detected as the JSON RFC says


# ---------------------------------------------------------------- the request


def credential(account, name: str) -> str:
    """A credential the request needs; a missing one fails the send before anything leaves."""
    value = account.credentials.get(name)
    if not value:
        raise PermanentProviderError(failures.PROVIDER_AUTH_FAILED, "", f"the account has no {name}")
    return str(value)


def seconds_for(options: Mapping[str, object]) -> float | None:
    """The account's own ``options["timeout"]`` in seconds, or None (the session's timeouts apply)."""
    seconds = options.get("timeout")
    if seconds is None:
        return None
    if not isinstance(seconds, int | float | str):
        raise TypeError(f"options['timeout'] must be a number of seconds, got {seconds!r}")
    return float(seconds)


def timeout_for(options: Mapping[str, object]):
    """How long to wait for the provider: the caller's ``httpx.Client`` decides, unless the account sets
    ``options["timeout"]`` (seconds). A slow answer becomes OutcomeUnknownError either way."""
    seconds = options.get("timeout")
    if seconds is None:
        return httpx.USE_CLIENT_DEFAULT
    if not isinstance(seconds, int | float | str):
        raise TypeError(f"options['timeout'] must be a number of seconds, got {seconds!r}")
    return httpx.Timeout(float(seconds))


def send_request(client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    """One HTTP call; a failure *before* the request left us is retryable, *after* it the outcome is unknown."""
    try:
        return client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the provider: sending again is safe.
        raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, "", f"connection failed: {_detail(exc)}") from exc
    except httpx.TransportError as exc:
        # Read timeout, connection reset after the body was written, malformed answer: the provider may
        # have accepted the message, so only an idempotent retry, a lookup or the customer can tell.
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", f"no answer: {_detail(exc)}") from exc


async def send_request_async(session, method: str, url: str, *, timeout: float | None = None, **kwargs) -> PlainAnswer:
    """:func:`send_request` over an ``aiohttp.ClientSession`` (the pipelined send path): the same translation of
    transport failures, and the answer as an :class:`Answer`, so that each adapter reads it with the same code.

    ``kwargs`` are httpx's: ``data`` (a form), ``json``, ``headers``, ``auth`` (user, password)."""
    import aiohttp

    headers = dict(kwargs.get("headers") or {})
    auth = kwargs.get("auth")
    options: dict = {"headers": headers}
    if auth is not None:
        # The header itself (RFC 7617): aiohttp's own BasicAuth argument is deprecated.
        user, password = auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    if "json" in kwargs:
        options["json"] = kwargs["json"]
    elif "data" in kwargs:
        data = kwargs["data"]
        if isinstance(data, dict):
            # Encoded here, as httpx does: given a dict, aiohttp builds a multipart writer first (a fresh random
            # boundary per request, a sixth of the send loop's CPU) only to send it urlencoded after all.
            data = urlencode(data).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        options["data"] = data
    if timeout is not None:
        options["timeout"] = aiohttp.ClientTimeout(total=timeout)
    try:
        async with session.request(method, url, **options) as answer:
            return PlainAnswer(answer.status, answer.headers, await answer.read())
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        # Nothing reached the provider: sending again is safe.
        raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, "", f"connection failed: {_detail(exc)}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        # A read timeout, a reset after the body was written, a malformed answer: the outcome is unknown.
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, "", f"no answer: {_detail(exc)}") from exc


def _detail(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------- the answer


def raise_for_busy(response: Answer, code: str = "", text: str = "") -> None:
    """429 and 5xx: the provider cannot take the request now (see the table above)."""
    status = response.status_code
    code = code or str(status)
    text = text or response.reason_phrase
    if status == 429:
        raise RetryableProviderError(failures.RATE_LIMITED, code, text, retry_after=retry_after(response))
    if status == 504:
        raise OutcomeUnknownError(failures.OUTCOME_UNKNOWN, code, text)
    if status >= 500:
        raise RetryableProviderError(failures.PROVIDER_UNAVAILABLE, code, text, retry_after=retry_after(response))


def raise_for_auth(response: Answer, code: str = "", text: str = "") -> None:
    """401/403: our credentials were refused."""
    if response.status_code in (401, 403):
        raise PermanentProviderError(
            failures.PROVIDER_AUTH_FAILED, code or str(response.status_code), text or response.reason_phrase
        )


def raise_for_transport_status(response: Answer, code: str = "", text: str = "") -> None:
    """The HTTP answers whose meaning does not depend on the provider: 429, 5xx, then 401/403."""
    raise_for_busy(response, code, text)
    raise_for_auth(response, code, text)


def retry_after(response: Answer) -> float | None:
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
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def json_or_empty(response: Answer) -> object:
    """The answer's JSON, or {} when it is not JSON (error answers are often HTML or plain text)."""
    try:
        return response.json()
    except ValueError:
        return {}


def json_dict(response: Answer) -> dict:
    """The answer's JSON object, or {} when it is not one."""
    data = json_or_empty(response)
    return data if isinstance(data, dict) else {}


def answer_object(response: Answer) -> dict:
    """A success answer must be a JSON object; anything else means we cannot know what happened."""
    try:
        data = response.json()
    except ValueError as exc:
        raise OutcomeUnknownError(
            failures.OUTCOME_UNKNOWN, str(response.status_code), "the provider's answer is not JSON"
        ) from exc
    if not isinstance(data, dict):
        raise OutcomeUnknownError(
            failures.OUTCOME_UNKNOWN, str(response.status_code), "the provider's answer is not a JSON object"
        )
    return data


def without_plus(number: str) -> str:
    """An international number without the leading '+', as several APIs want it."""
    return number[1:] if number.startswith("+") else number
