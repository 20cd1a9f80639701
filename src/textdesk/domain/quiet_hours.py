"""Quiet hours: a daily window in the recipient's local time during which nothing is sent.

Pure: give it the window, the recipient's time zone and ``now``; it answers with the
earliest moment a message may go out (``now`` itself when the window is closed).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _in_window(local: dt.time, start: dt.time, end: dt.time) -> bool:
    if start == end:
        return False  # an empty window
    if start < end:  # e.g. 12:00–14:00
        return start <= local < end
    return local >= start or local < end  # crosses midnight, e.g. 21:00–08:00


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def next_allowed(now: dt.datetime, start: dt.time, end: dt.time, tz: ZoneInfo) -> dt.datetime:
    """``now`` if sending is allowed now, else the moment quiet hours end (aware, in UTC)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(tz)
    if not _in_window(local.time(), start, end):
        return now
    day = local.date() if local.time() < end else local.date() + dt.timedelta(days=1)
    # Built from the wall clock, so a DST change on the opening day keeps the local hour.
    opens = dt.datetime(day.year, day.month, day.day, end.hour, end.minute, tzinfo=tz)
    return opens.astimezone(dt.UTC)
