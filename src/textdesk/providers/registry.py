"""Picks the adapter module for a provider account's kind."""

from __future__ import annotations

import importlib

from textdesk.providers.base import Provider

MODULES = {
    "twilio": "textdesk.providers.twilio",
    "vonage": "textdesk.providers.vonage",
    "telnyx": "textdesk.providers.telnyx",
    "plivo": "textdesk.providers.plivo",
    "acs": "textdesk.providers.acs",
    "infobip": "textdesk.providers.infobip",
    "telesign": "textdesk.providers.telesign",
    "messagebird": "textdesk.providers.messagebird",
    "link_mobility": "textdesk.providers.link_mobility",
    "vibes": "textdesk.providers.vibes",
    "generic": "textdesk.providers.generic",
}


def get_provider(kind: str) -> Provider:
    try:
        module = importlib.import_module(MODULES[kind])
    except KeyError:
        raise ValueError(f"unknown provider kind {kind!r}") from None
    return module.PROVIDER
