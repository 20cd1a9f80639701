import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from textdesk.domain.quiet_hours import next_allowed, zone

NIGHT = (dt.time(21, 0), dt.time(8, 0))
SP = ZoneInfo("America/Sao_Paulo")  # UTC-3, no DST


def at(hour, minute=0, day=10, tz=SP):
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=tz)


def test_outside_the_window_sends_now():
    now = at(12)
    assert next_allowed(now, *NIGHT, SP) == now


def test_late_evening_waits_for_next_morning():
    assert next_allowed(at(22, 30), *NIGHT, SP) == at(8, 0, day=11)


def test_early_morning_waits_until_the_window_ends_the_same_day():
    assert next_allowed(at(3), *NIGHT, SP) == at(8)


def test_window_boundaries():
    assert next_allowed(at(21), *NIGHT, SP) == at(8, day=11)
    assert next_allowed(at(8), *NIGHT, SP) == at(8)


def test_uses_the_recipient_time_zone_not_utc():
    # 23:30 UTC is 20:30 in São Paulo: allowed there.
    now = dt.datetime(2026, 3, 10, 23, 30, tzinfo=dt.UTC)
    assert next_allowed(now, *NIGHT, SP) == now
    # ...but 08:30 in Tokyo, allowed; while 06:00 UTC is 15:00 Tokyo and 03:00 São Paulo.
    early = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
    assert next_allowed(early, *NIGHT, ZoneInfo("Asia/Tokyo")) == early
    assert next_allowed(early, *NIGHT, SP) == at(8)


def test_daytime_window():
    lunch = (dt.time(12, 0), dt.time(14, 0))
    assert next_allowed(at(13), *lunch, SP) == at(14)
    assert next_allowed(at(15), *lunch, SP) == at(15)


def test_dst_day_opens_at_local_wall_clock_time():
    ny = ZoneInfo("America/New_York")  # DST starts 2026-03-08 02:00
    now = dt.datetime(2026, 3, 7, 23, 0, tzinfo=ny)
    assert next_allowed(now, *NIGHT, ny) == dt.datetime(2026, 3, 8, 8, 0, tzinfo=ny)


def test_unknown_zone_falls_back():
    assert zone("Not/AZone", "America/Sao_Paulo") == SP
    assert zone(None) == ZoneInfo("UTC")


@given(
    st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)),
    st.times(),
    st.times(),
    st.sampled_from(["UTC", "America/Sao_Paulo", "America/New_York", "Asia/Kolkata", "Europe/Rome"]),
)
def test_result_is_never_earlier_than_now_nor_inside_the_window(now, start, end, name):
    start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    tz = ZoneInfo(name)
    result = next_allowed(now, start, end, tz)
    assert result >= now
    assert result - now <= dt.timedelta(days=1, hours=2)
    assert next_allowed(result, start, end, tz) == result
