"""ISO weeks in the fleet's time zone, and which week's report is due when."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.report.delivery import due_week
from monitor.report.week import IsoWeek

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")


def test_parse_label_and_neighbours():
    w = IsoWeek.parse("2026-W45")
    assert (w.year, w.week, w.label, str(w.monday)) == (2026, 45, "2026-W45", "2026-11-02")
    assert w.previous().label == "2026-W44" and w.next().label == "2026-W46"
    assert IsoWeek.parse("2027-W01").previous().label == "2026-W53"  # 2026 has 53 ISO weeks
    for bad in ("2026-45", "2026-W5", "2025-W53", "W45"):
        with pytest.raises(ValueError):
            IsoWeek.parse(bad)


@pytest.mark.parametrize(("week", "tz", "hours", "start_utc"), [
    ("2026-W45", TOKYO, 168, datetime(2026, 11, 1, 15, 0, tzinfo=UTC)),
    ("2026-W13", BERLIN, 167, datetime(2026, 3, 22, 23, 0, tzinfo=UTC)),  # clocks go forward on 29 March
    ("2026-W43", BERLIN, 169, datetime(2026, 10, 18, 22, 0, tzinfo=UTC)),  # and back on 25 October
])
def test_bounds_are_local_mondays_whatever_daylight_saving_does(week, tz, hours, start_utc):
    start, end = IsoWeek.parse(week).bounds(tz)
    assert start == start_utc
    assert (end - start) == timedelta(hours=hours)
    assert end.astimezone(tz).weekday() == 0 and end.astimezone(tz).hour == 0


def test_containing_uses_local_date():
    sunday_late_utc = datetime(2026, 11, 8, 16, 0, tzinfo=UTC)  # Monday 01:00 in Tokyo
    assert IsoWeek.containing(sunday_late_utc, TOKYO).label == "2026-W46"
    assert IsoWeek.containing(sunday_late_utc, BERLIN).label == "2026-W45"
    assert IsoWeek.last_complete(sunday_late_utc, TOKYO).label == "2026-W45"


@pytest.mark.parametrize(("local", "due"), [
    (datetime(2026, 11, 9, 8, 59), "2026-W44"),  # Monday before 09:00: last week's report is not due yet
    (datetime(2026, 11, 9, 9, 0), "2026-W45"),
    (datetime(2026, 11, 9, 9, 30), "2026-W45"),
    (datetime(2026, 11, 15, 23, 59), "2026-W45"),
    (datetime(2026, 11, 16, 9, 0), "2026-W46"),
])
def test_due_week(local, due):
    assert due_week(local.replace(tzinfo=TOKYO), TOKYO, time(9, 0)).label == due
