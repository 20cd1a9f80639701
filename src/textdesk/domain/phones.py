"""Phone number normalisation to E.164."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers


@dataclass(frozen=True)
class NormalisedPhone:
    raw: str
    e164: str  # "" when the raw value cannot be read as a valid number

    @property
    def is_valid(self) -> bool:
        return bool(self.e164)

    @property
    def is_empty(self) -> bool:
        return not self.raw.strip()


# Parsing with phonenumbers costs ~50-100 µs; routing and sending read the same few numbers over and over.
# The functions are pure and their results immutable, so they are cached.
@lru_cache(maxsize=16384)
def normalise(raw: str | None, region: str | None = None) -> NormalisedPhone:
    """Read ``raw`` as a phone number, in ``region`` when it has no country code.

    Never raises: an unreadable or impossible number comes back with an empty
    ``e164`` so callers keep the raw value and show it as invalid.
    """
    raw = (raw or "").strip()
    if not raw:
        return NormalisedPhone(raw="", e164="")
    cleaned = raw.replace("\u00a0", " ")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    try:
        parsed = phonenumbers.parse(cleaned, (region or "US").upper())
    except phonenumbers.NumberParseException:
        return NormalisedPhone(raw=raw, e164="")
    if not phonenumbers.is_valid_number(parsed):
        return NormalisedPhone(raw=raw, e164="")
    return NormalisedPhone(raw=raw, e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def is_e164(value: str) -> bool:
    """True when ``value`` is already written in E.164 and is a valid number."""
    if not value or not value.startswith("+") or not value[1:].isdigit() or len(value) > 16:
        return False
    return normalise(value).e164 == value


@lru_cache(maxsize=16384)
def region_of(e164: str) -> str | None:
    """ISO region code (e.g. "BR") of an E.164 number, or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or None
    except phonenumbers.NumberParseException:
        return None


@lru_cache(maxsize=16384)
def display(e164: str) -> str:
    """Human format (international), used e.g. to name a lead created for an unknown number."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def timezone_of(e164: str) -> str | None:
    """A time zone name for the number's region (first one phonenumbers knows), or None."""
    from phonenumbers import timezone as pn_timezone

    try:
        zones = pn_timezone.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    known = [z for z in zones if z != "Etc/Unknown"]
    return known[0] if known else None
