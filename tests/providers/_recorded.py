"""Recorded provider payloads (tests/providers/fixtures/<provider>/*.json), built from documented examples.

A webhook fixture is {source, handler ("inbound"|"status"), method, url, headers, body, expect}; a response
fixture is {source, status, headers, body}."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from textdesk.providers.base import WebhookRequest

FIXTURES = Path(__file__).parent / "fixtures"


def names(provider: str) -> list[str]:
    return sorted(p.stem for p in (FIXTURES / provider).glob("*.json"))


def load(provider: str, name: str) -> dict:
    return json.loads((FIXTURES / provider / f"{name}.json").read_text(encoding="utf-8"))


def webhook_fixtures(provider: str) -> list[str]:
    return [n for n in names(provider) if "handler" in load(provider, n)]


def response_fixtures(provider: str) -> list[str]:
    return [n for n in names(provider) if "handler" not in load(provider, n)]


def as_request(
    fixture: dict, *, body: bytes | None = None, headers: dict[str, str] | None = None, url: str | None = None
) -> WebhookRequest:
    merged = {k.lower(): v for k, v in {**fixture["headers"], **(headers or {})}.items()}
    return WebhookRequest(
        method=fixture["method"],
        url=url or fixture["url"],
        headers=merged,
        body=fixture["body"].encode("utf-8") if body is None else body,
    )


def check_expected(parsed: object, expect: dict) -> None:
    """Every expected field equals the parsed value (datetimes compared in ISO form, ConcatPart as dict)."""
    for key, wanted in expect.items():
        value = getattr(parsed, key)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif hasattr(value, "__dataclass_fields__"):
            value = {f: getattr(value, f) for f in value.__dataclass_fields__}
        assert value == wanted, f"{key}: {value!r} != {wanted!r}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
