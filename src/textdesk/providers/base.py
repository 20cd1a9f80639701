"""Neutral types every provider adapter speaks, and the error hierarchy.

Errors (translated at the boundary, inside each adapter)::

    ProviderError
    ├── RetryableProviderError   timeouts before the request was sent, 429, 5xx, documented temporary codes
    ├── PermanentProviderError   the provider refused the message; retrying cannot help
    └── OutcomeUnknownError      the request may have reached the provider but no answer came back

    WebhookRejected              an incoming webhook is unsigned, mis-signed, stale or malformed (→ 4xx)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # labels are lazy translations; the adapters stay free of Django at run time
    from django.utils.functional import Promise

# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class AccountConfig:
    """A provider account as plain data: what an adapter needs, without the database."""

    kind: str
    credentials: Mapping[str, str]
    options: Mapping[str, object] = field(default_factory=dict)
    inbound_url: str = ""
    status_url: str = ""

    def base_url(self, default: str) -> str:
        """The provider's API root; overridable (``options["base_url"]``) to point at the simulator."""
        return str(self.options.get("base_url") or default).rstrip("/")


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str | Promise
    secret: bool = True
    required: bool = True
    help: str | Promise = ""


# ---------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class WebhookRequest:
    """An incoming webhook exactly as received."""

    method: str
    url: str  # the full URL the provider requested: public base URL + path + query string
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    received_at: dt.datetime | None = None
    peer: str = ""  # the address the request came from (the TCP peer: a proxy, when there is one)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


@dataclass(frozen=True)
class ConcatPart:
    """One part of a long message that the provider delivers in pieces (Vonage ``concat-*``)."""

    reference: str
    total: int
    number: int  # 1-based


@dataclass(frozen=True)
class InboundSMS:
    provider_message_id: str
    from_number: str  # as the provider wrote it
    to_number: str
    body: str
    segments: int | None = None
    opt_signal: str | None = None  # "opt_out" | "opt_in" | "help" when the provider flags a keyword
    concat: ConcatPart | None = None
    received_at: dt.datetime | None = None
    # The customer's carrier as the provider names it, when replies must name it too (Vibes ``carrier``).
    carrier: str = ""


@dataclass(frozen=True)
class StatusReport:
    provider_message_id: str
    provider_status: str  # the provider's own value, kept in the history
    status: str | None  # neutral status (textdesk.domain.status), None = no news
    error_code: str = ""
    error_text: str = ""
    failure_reason: str = ""  # neutral reason (textdesk.domain.failures) when it failed
    permanent: bool = False
    opt_out: bool = False  # the provider says the recipient opted out
    occurred_at: dt.datetime | None = None
    # The reference we sent with the message (OutboundSMS.client_reference or the idempotency key, as the
    # adapter sends it), when the provider echoes it: Vonage ``client-ref``, MessageBird ``reference``, …
    client_reference: str = ""


@dataclass(frozen=True)
class WebhookResponse:
    status: int = 200
    content_type: str = "text/plain"
    body: bytes = b""


@dataclass(frozen=True)
class ParsedWebhook:
    inbound: list[InboundSMS] = field(default_factory=list)
    statuses: list[StatusReport] = field(default_factory=list)
    # What to answer (e.g. empty TwiML); None = the adapter's default acknowledgement.
    response: WebhookResponse | None = None


# ---------------------------------------------------------------- sending


@dataclass(frozen=True)
class OutboundSMS:
    from_number: str  # E.164
    to_number: str  # E.164
    body: str
    idempotency_key: str  # stable across retries of one message
    status_callback_url: str = ""
    client_reference: str = ""  # our message id, echoed back by providers that support it
    # When the first attempt to send this message was made, the same on every attempt (None: not known; the
    # adapter takes the present moment). Providers whose
    # idempotency is tied to that moment (ACS ``repeatabilityFirstSent``) need it to recognise a resend.
    first_attempted_at: dt.datetime | None = None
    # The customer's carrier code from their last inbound message, for providers whose sends must name it
    # (Vibes); empty when unknown.
    destination_carrier: str = ""
    # The provider's id of the customer's last message to this sender number, for providers that link a
    # reply to it (LINK ``moReferenceId``); empty when unknown.
    in_reply_to: str = ""


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str  # neutral, usually "queued" or "sent"
    provider_status: str = ""
    segments: int | None = None
    # Every id the provider gave the message, in part order, when it split a long text into separately
    # tracked parts (Vonage's SMS API: one message-id and one delivery report per part). The first is
    # ``provider_message_id``. The messaging layer should map every part id to the message, so that each
    # part's report finds it. Such adapters fill it even for a one-part message; empty for providers that
    # track every message under one id.
    part_ids: tuple[str, ...] = ()


# ---------------------------------------------------------------- errors


class ProviderError(Exception):
    """A provider refused or could not take a request. ``reason`` is a neutral failure reason."""

    def __init__(
        self, reason: str, code: str = "", text: str = "", *, opt_out: bool = False, retry_after: float | None = None
    ):
        super().__init__(f"{reason}: {code} {text}".strip())
        self.reason = reason
        self.code = str(code)
        self.text = text
        self.opt_out = opt_out
        self.retry_after = retry_after


class RetryableProviderError(ProviderError):
    """Temporary: the same request may succeed later (timeouts before sending, 429, 5xx, temporary codes)."""


class PermanentProviderError(ProviderError):
    """Final: retrying the same request cannot succeed."""


class OutcomeUnknownError(ProviderError):
    """The request may have reached the provider, but we cannot know whether it was accepted."""


class WebhookRejected(Exception):
    """An incoming webhook is refused. ``status`` is the HTTP answer (400, 401, 403, 413, 415)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ---------------------------------------------------------------- the adapter contract


class Provider(Protocol):
    kind: str
    display_name: str
    credential_fields: tuple[CredentialField, ...]
    # Can a retry after a crash be made safe? (idempotency key honoured, or message lookup by our reference)
    supports_idempotency: bool
    supports_lookup: bool
    reports_delivery: bool

    def send(self, account: AccountConfig, message: OutboundSMS, client) -> SendResult:
        """Hand one message to the provider over HTTP (``client`` is an ``httpx.Client``)."""

    def lookup(self, account: AccountConfig, message: OutboundSMS, client) -> SendResult | None:
        """Find a message we may have sent before a crash; None when the provider has no record of it."""

    # Optional (read with ``getattr(provider, "supports_status_fetch", False)``): see :class:`FetchesStatus`.

    def verify(self, account: AccountConfig, request: WebhookRequest, now: dt.datetime) -> None:
        """Raise WebhookRejected unless the request is authentic (signature, timestamp window)."""

    def parse_inbound(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        """Read an inbound-message webhook; raise WebhookRejected(400) when malformed."""

    def parse_status(self, account: AccountConfig, request: WebhookRequest) -> ParsedWebhook:
        """Read a delivery-report webhook; raise WebhookRejected(400) when malformed."""


class FetchesStatus(Protocol):
    """Optional part of the contract, for providers with ``supports_status_fetch = True``: they answer a request
    for a sent message's current status, so a delivery report that never came can be asked for."""

    def fetch_status(self, account: AccountConfig, provider_message_id: str, client) -> StatusReport | None:
        """The message's status as the provider knows it now (a report like a webhook's); None when unknown to
        it. Raises ProviderError when the provider cannot be asked right now."""
