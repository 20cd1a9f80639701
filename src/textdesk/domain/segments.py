"""How many SMS parts a body takes: GSM-7 (160/153) or UCS-2 (70/67 UTF-16 code units).

Pure: no database, no Django. Parts are cut greedily; a two-septet GSM-7 extension
character (ESC + char) and a UTF-16 surrogate pair are never split across parts,
so a part may end one unit short of its capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GSM7 = "gsm7"
UCS2 = "ucs2"

# 3GPP TS 23.038 default alphabet (one septet each); ESC (0x1B) itself is not typeable.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: ESC + char, two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[]~|€")

LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "gsm7" or "ucs2"
    segments: int  # 0 for an empty body
    characters: int  # characters typed (code points)
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2) used
    remaining: int  # units still free in the current (last) part
    per_segment: int  # capacity of one part at the current count (160/153 or 70/67)
    parts: list[int] = field(default_factory=list)  # characters in each part
    ucs2_characters: list[str] = field(default_factory=list)  # characters that force UCS-2, in order of appearance

    def as_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "characters": self.characters,
            "units": self.units,
            "remaining": self.remaining,
            "per_segment": self.per_segment,
            "parts": list(self.parts),
            "ucs2_characters": list(self.ucs2_characters),
        }


def is_gsm7(char: str) -> bool:
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def unit_cost(char: str, encoding: str) -> int:
    if encoding == GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def ucs2_forcing(body: str) -> list[str]:
    """Distinct characters outside GSM-7, in order of first appearance."""
    seen: dict[str, None] = {}
    for char in body:
        if not is_gsm7(char):
            seen.setdefault(char, None)
    return list(seen)


def _split(costs: list[int], capacity: int) -> list[list[int]]:
    parts: list[list[int]] = [[]]
    used = 0
    for cost in costs:
        if used + cost > capacity:
            parts.append([])
            used = 0
        parts[-1].append(cost)
        used += cost
    return parts


def count(body: str) -> SegmentCount:
    forcing = ucs2_forcing(body)
    encoding = UCS2 if forcing else GSM7
    single, multi = LIMITS[encoding]
    costs = [unit_cost(c, encoding) for c in body]
    units = sum(costs)
    if not costs:
        return SegmentCount(encoding, 0, 0, 0, single, single, [], forcing)
    if units <= single:
        return SegmentCount(encoding, 1, len(costs), units, single - units, single, [len(costs)], forcing)
    parts = _split(costs, multi)
    return SegmentCount(
        encoding, len(parts), len(costs), units, multi - sum(parts[-1]), multi, [len(p) for p in parts], forcing
    )
