"""The report maths, pure: table-driven cases with `now` and the week passed in."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.core.domain import Cause
from monitor.report.maths import (
    CameraInfo,
    CauseSpan,
    OwnerRequest,
    RollupHour,
    StateSpan,
    Ticket,
    WeekInputs,
    minutes_by_cause,
    weekly_report,
    worst_cameras,
)
from monitor.report.week import IsoWeek

TZ = ZoneInfo("Asia/Tokyo")
W45 = IsoWeek.parse("2026-W45")
MON = datetime(2026, 11, 2, tzinfo=TZ)
AFTER = datetime(2026, 11, 10, 9, tzinfo=TZ)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MON + timedelta(days=day, hours=hour, minutes=minute)


def span(cause: Cause, start: datetime, end: datetime | None, cam: str = "C1") -> CauseSpan:
    return CauseSpan(camera=cam, cause=cause, start=start, end=end)


LO, HI = W45.bounds(TZ)


@pytest.mark.parametrize(("spans", "hi", "expected"), [
    ([], HI, {}),
    ([span(Cause.LOCAL_OUTAGE, at(0, 10), at(0, 11))], HI, {Cause.LOCAL_OUTAGE: 60}),
    # overlapping: the outage wins over the congestion it happened in
    ([span(Cause.ISP_CONGESTION, at(0, 18), at(0, 22)), span(Cause.LOCAL_OUTAGE, at(0, 19), at(0, 20))], HI,
     {Cause.ISP_CONGESTION: 180, Cause.LOCAL_OUTAGE: 60}),
    # a wider outage explains the minutes of a local one inside it
    ([span(Cause.LOCAL_OUTAGE, at(1, 5), at(1, 8)), span(Cause.AREA_OUTAGE, at(1, 6), at(1, 7))], HI,
     {Cause.LOCAL_OUTAGE: 120, Cause.AREA_OUTAGE: 60}),
    # the same cause twice (two incidents) is counted once
    ([span(Cause.LOCAL_OUTAGE, at(2, 0), at(2, 2)), span(Cause.LOCAL_OUTAGE, at(2, 1), at(2, 3))], HI,
     {Cause.LOCAL_OUTAGE: 180}),
    # clipped to the week at both ends; an open span ends at `hi`
    ([span(Cause.CAMERA_FAULT, at(-1, 23), at(0, 1)), span(Cause.MONITOR_OUTAGE, at(6, 23), None)], HI,
     {Cause.CAMERA_FAULT: 60, Cause.MONITOR_OUTAGE: 60}),
    ([span(Cause.LOCAL_OUTAGE, at(3, 12), None)], at(3, 12, 30), {Cause.LOCAL_OUTAGE: 30}),
])
def test_minutes_by_cause(spans, hi, expected):
    got = minutes_by_cause(spans, LO, hi)
    assert set(got) == set(Cause)
    assert {c: m for c, m in got.items() if m} == {c: pytest.approx(m) for c, m in expected.items()}


def rollups(cam: str, week: IsoWeek, ok: int = 60, failed: int = 0, fr: float = 900.0, fe: float = 900.0):
    lo, _ = week.bounds(TZ)
    return [RollupHour(camera=cam, hour=lo + timedelta(hours=h), probes_ok=ok, probes_failed=failed,
                       frames_received=fr, frames_expected=fe) for h in range(168)]


CAMS = (CameraInfo(camera_id="C1", area="A01", isp="nuro"), CameraInfo(camera_id="C2", area="A01", isp="flets"),
        CameraInfo(camera_id="C3", area="A02", isp="flets"))


def week_inputs(week: IsoWeek, c1_failed: int, **kw) -> WeekInputs:
    rs = rollups("C1", week, ok=60 - c1_failed, failed=c1_failed, fr=450.0) + rollups("C2", week) + rollups("C3", week)
    return WeekInputs(week=week, cameras=CAMS, rollups=tuple(rs), **kw)


def test_weekly_report_figures_groups_chronic_and_change():
    cur = week_inputs(
        W45, 6,
        cause_spans=(span(Cause.LOCAL_OUTAGE, at(0, 10), at(0, 12)),
                     span(Cause.ISP_CONGESTION, at(1, 19), at(1, 21), cam="C2"),
                     span(Cause.ISP_CONGESTION, at(1, 19), at(1, 20), cam="C3")),
        state_spans=(StateSpan(camera="C1", state="down", start=at(0, 10), end=at(0, 11, 57)),
                     StateSpan(camera="C2", state="degraded", start=at(1, 19), end=at(1, 20))),
        owner_requests=(OwnerRequest(camera="C1", kind="reboot_request", t=at(0, 10, 30)),
                        OwnerRequest(camera="C1", kind="reboot_request", t=at(-1, 10))),  # last week: not counted
        tickets=(Ticket(number="T1", camera="C1", opened_at=at(-2, 0), closed_at=at(0, 12)),
                 Ticket(number="T2", camera="C1", opened_at=at(0, 11)),
                 Ticket(number="T3", camera="C3", opened_at=at(2, 0), closed_at=at(2, 6))),
    )
    prev = week_inputs(W45.previous(), 12)
    r = weekly_report(cur, prev, tz=TZ, now=AFTER, chronic_below_pct=95.0)
    c1, c2, c3 = r.cameras
    assert c1.uptime_pct == pytest.approx(90.0) and c1.completeness_pct == pytest.approx(50.0)
    assert c1.down_minutes == pytest.approx(117) and c2.degraded_minutes == pytest.approx(60)
    assert c1.by_cause[Cause.LOCAL_OUTAGE] == 120 and c1.downtime_minutes == 120
    assert (c1.owner_requests, c1.tickets_opened, c1.tickets_closed) == (1, 1, 1)
    assert c1.mttr_hours == pytest.approx(60.0) and c3.mttr_hours == pytest.approx(6.0)
    a01, a02 = r.areas
    assert (a01.name, a01.cameras, a02.name, a02.cameras) == ("A01", 2, "A02", 1)
    assert a01.uptime_pct == pytest.approx(95.0)
    assert a01.by_cause[Cause.ISP_CONGESTION] == 120 and a02.by_cause[Cause.ISP_CONGESTION] == 60
    assert [i.name for i in r.isps] == ["flets", "nuro"] and r.isps[0].cameras == 2
    assert r.fleet.cameras == 3 and r.fleet.mttr_hours == pytest.approx(33.0)
    assert r.fleet.by_cause[Cause.ISP_CONGESTION] == 180
    # chronic: C1 was below 95 % both weeks (90 %, 80 %)
    assert [(c.camera_id, round(c.uptime_pct), round(c.previous_uptime_pct)) for c in r.chronic] == [("C1", 90, 80)]
    assert r.change is not None and r.change.uptime_pp == pytest.approx(100 * 174 / 180 - 100 * 168 / 180)
    assert r.change.by_cause[Cause.LOCAL_OUTAGE] == 120
    assert r.area_changes["A01"].uptime_pp == pytest.approx(5.0)
    assert r.complete and [f.name for f in worst_cameras(r)] == ["C1", "C2", "C3"]


def test_no_previous_week_means_no_change_and_no_chronic():
    r = weekly_report(week_inputs(W45, 30), WeekInputs(week=W45.previous(), cameras=CAMS), tz=TZ, now=AFTER)
    assert r.previous_fleet is None and r.change is None and r.chronic == () and r.area_changes == {}


def test_open_incident_counts_until_now_or_last_round_not_the_week_end():
    spans = (span(Cause.LOCAL_OUTAGE, at(6, 20), None),)
    mid = week_inputs(W45, 0, cause_spans=spans)
    r = weekly_report(mid, None, tz=TZ, now=at(6, 21))
    assert r.cameras[0].by_cause[Cause.LOCAL_OUTAGE] == 60 and not r.complete
    stale = week_inputs(W45, 0, cause_spans=spans, observed_until=at(6, 20, 15))
    assert weekly_report(stale, None, tz=TZ, now=AFTER).cameras[0].by_cause[Cause.LOCAL_OUTAGE] == 15


def test_heatmap_shows_the_evening_congestion_by_local_hour():
    rs = []
    for h in range(168):
        hour = LO + timedelta(hours=h)
        evening = 19 <= hour.astimezone(TZ).hour < 23
        rs.append(RollupHour(camera="C3", hour=hour, probes_ok=60, probes_failed=0,
                             frames_received=300.0 if evening else 900.0, frames_expected=900.0))
    r = weekly_report(WeekInputs(week=W45, cameras=CAMS, rollups=tuple(rs)), None, tz=TZ, now=AFTER)
    assert r.heatmap.areas == ("A01", "A02")
    a01, a02 = r.heatmap.values
    assert all(v is None for v in a01)
    assert [round(a02[d * 24 + h]) for d in (0, 6) for h in (18, 19, 22, 23)] == [100, 33, 33, 100] * 2


def test_heatmap_on_a_daylight_saving_week():
    berlin = ZoneInfo("Europe/Berlin")
    week = IsoWeek.parse("2026-W43")  # 169 hours: Sunday 25 October has 02:00 twice
    lo, hi = week.bounds(berlin)
    n = int((hi - lo).total_seconds() // 3600)
    rs = tuple(RollupHour(camera="C1", hour=lo + timedelta(hours=h), probes_ok=1, probes_failed=0,
                          frames_received=1.0, frames_expected=1.0) for h in range(n))
    r = weekly_report(WeekInputs(week=week, cameras=CAMS[:1], rollups=rs), None, tz=berlin, now=hi)
    row = r.heatmap.values[0]
    assert n == 169 and all(v == 100.0 for v in row) and r.fleet.probes == 169
