"""The ISO week of a report, in the fleet's time zone: Monday 00:00 local to the next Monday 00:00.

Bounds are computed on local wall-clock dates and only then turned into UTC, so a week that crosses
a daylight-saving change is 167 or 169 hours long, as it really is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


YEARS = (1970, 9998)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        label = f"{self.year:04d}-W{self.week:02d}"
        if not YEARS[0] <= self.year <= YEARS[1]:  # the week's bounds in any time zone must stay dates
            raise ValueError(f"{label}: a week from {YEARS[0]} to {YEARS[1]}, please")
        weeks = date(self.year, 12, 28).isocalendar()[1]  # 28 December is always in the year's last week
        if not 1 <= self.week <= weeks:
            raise ValueError(f"{label}: no such week ({self.year} has weeks 01 to {weeks})")

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        m = _WEEK.match(text.strip())
        if not m:
            raise ValueError(f"not an ISO week like 2026-W45: {text!r}")
        return cls(year=int(m[1]), week=int(m[2]))

    @classmethod
    def of_date(cls, d: date) -> IsoWeek:
        y, w, _ = d.isocalendar()
        return cls(year=y, week=w)

    @classmethod
    def containing(cls, t: datetime, tz: ZoneInfo) -> IsoWeek:
        return cls.of_date(t.astimezone(tz).date())

    @classmethod
    def last_complete(cls, now: datetime, tz: ZoneInfo) -> IsoWeek:
        """The week before the one ``now`` falls in (local time)."""
        return cls.containing(now, tz).previous()

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def __str__(self) -> str:
        return self.label

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def previous(self) -> IsoWeek:
        return IsoWeek.of_date(self.monday - timedelta(days=7))

    def next(self) -> IsoWeek:
        return IsoWeek.of_date(self.monday + timedelta(days=7))

    def local_start(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.monday, time(0), tzinfo=tz)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in aware UTC."""
        start = datetime.combine(self.monday, time(0), tzinfo=tz)
        end = datetime.combine(self.monday + timedelta(days=7), time(0), tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def days(self) -> tuple[date, ...]:
        return tuple(self.monday + timedelta(days=i) for i in range(7))
