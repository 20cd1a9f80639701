"""Who may call a provider account's webhook URLs, beyond the unguessable key in the URL.

Some providers never sign their callbacks (LINK Mobility, Vibes; Infobip and ACS sign nothing either). For
them, and for any account that wants it, two optional checks run before the adapter reads the request:

- **source addresses**: ``options["allowed_sources"]``, a list of addresses or networks (``"35.155.139.143"``,
  ``"10.0.0.0/8"``). A request from anywhere else is refused with 403. Behind a reverse proxy the TCP peer is
  the proxy: name the header the proxy writes in ``options["trusted_proxy_header"]`` (e.g.
  ``X-Forwarded-For``) and, when the proxy is not on this host, its addresses in ``options["trusted_proxies"]``
  (default: loopback only). The header is read only when the peer is a trusted proxy, from the right (the
  address the proxy appended), skipping further trusted proxies, so a caller cannot forge its own address.
- **Basic credentials**: ``credentials["webhook_username"]`` / ``credentials["webhook_password"]``, set on the
  provider's side of the callback (LINK's gate, Infobip's webhook). A request without them is refused with
  401, with other ones 403.

Everything here is plain data in, ``WebhookRejected`` out.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable

from textdesk.providers import _webhooks
from textdesk.providers.base import AccountConfig, WebhookRejected, WebhookRequest

DEFAULT_TRUSTED_PROXIES = ("127.0.0.1/32", "::1/128")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: object) -> list[Network]:
    """Addresses and networks from a list or from text (one per line, or separated by commas or spaces).

    Raises ValueError naming the first entry that is not an address or a network."""
    if isinstance(values, str):
        items: Iterable[object] = values.replace(",", " ").split()
    elif isinstance(values, (list, tuple)):
        items = values
    elif values in (None, ""):
        return []
    else:
        raise ValueError(f"expected a list of addresses, got {type(values).__name__}")
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address or network") from None
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _within(address, networks: list[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(account: AccountConfig, request: WebhookRequest):
    """The caller's address: the peer, or what a trusted proxy wrote in the configured header."""
    peer = _address(request.peer)
    header = str(account.options.get("trusted_proxy_header") or "").strip().lower()
    if peer is None or not header:
        return peer
    try:
        proxies = parse_networks(account.options.get("trusted_proxies") or list(DEFAULT_TRUSTED_PROXIES))
    except ValueError:
        proxies = parse_networks(list(DEFAULT_TRUSTED_PROXIES))
    if not _within(peer, proxies):
        return peer  # not through our proxy: whatever the header says was written by the caller
    hops = [h for h in request.header(header).split(",") if h.strip()]
    address = peer
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            raise WebhookRejected(400, f"unreadable address in {header}")
        address = hop_address
        if not _within(address, proxies):
            return address
    return address


def check_source(account: AccountConfig, request: WebhookRequest) -> None:
    """403 unless the caller's address is allowed (no list: every address is)."""
    try:
        allowed = parse_networks(account.options.get("allowed_sources"))
    except ValueError:
        raise WebhookRejected(403, "the account's allowed source addresses are unreadable") from None
    if not allowed:
        return
    address = client_address(account, request)
    if address is None or not _within(address, allowed):
        raise WebhookRejected(403, f"source address {address or request.peer or 'unknown'} is not allowed")


def basic_configured(account: AccountConfig) -> bool:
    return bool(account.credentials.get("webhook_username") or account.credentials.get("webhook_password"))


def check_basic(account: AccountConfig, request: WebhookRequest) -> None:
    """401/403 unless the request carries the account's callback Basic credentials (none set: nothing to check)."""
    if not basic_configured(account):
        return
    header = request.header("authorization")
    if not header.lower().startswith("basic "):
        raise WebhookRejected(401, "missing Basic credentials")
    try:
        given = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(401, "malformed Basic credentials") from None
    username = account.credentials.get("webhook_username", "")
    password = account.credentials.get("webhook_password", "")
    if not _webhooks.same_secret(given, f"{username}:{password}".encode()):
        raise WebhookRejected(403, "Basic credentials do not match")


def check(account: AccountConfig, request: WebhookRequest) -> None:
    """Both checks, source first (a caller from elsewhere learns nothing about the credentials)."""
    check_source(account, request)
    check_basic(account, request)
