"""Pure weekly report maths: stored figures of one ISO week (and the week before) -> a WeeklyReport.

No clock, no database: the week, the time zone and ``now`` are arguments. Spans that are still open
(an incident not yet closed) count up to ``now`` or the monitor's last decided round, whichever is
earlier, and never beyond the week's end.

Definitions (per camera; areas, ISPs and the fleet add the cameras' counts up):

- uptime %: probes that reached the camera / probes made (hourly rollups);
- recording completeness %: frames received / frames expected (hourly rollups);
- down / degraded minutes: from the state intervals (no cause);
- downtime by cause: minutes during which the camera was a member of an open incident of that cause
  (incident spans). Where spans of two causes overlap for one camera, each minute goes to one cause
  only, the first of ``CAUSE_PRECEDENCE``: the widest outage explains the minute; an outage beats a
  congestion (a camera that is down is not "slow"). Congestion minutes are counted although the
  camera stays reachable: they are minutes of poor recording;
- owner requests: owner reboot requests and reminders decided in the week;
- tickets: opened in the week, closed in the week; time to repair = closed - opened, per ticket
  closed in the week, averaged (MTTR).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor.core.domain import Cause
from monitor.core.drift import DriftRecord
from monitor.core.holds import Maintenance
from monitor.report.week import IsoWeek

if TYPE_CHECKING:
    from monitor.store.findings import StoredFinding

CAUSE_PRECEDENCE: tuple[Cause, ...] = (
    Cause.MONITOR_OUTAGE, Cause.AREA_OUTAGE, Cause.ISP_OUTAGE, Cause.LOCAL_OUTAGE, Cause.CAMERA_FAULT,
    Cause.ISP_CONGESTION, Cause.LOCAL_CONGESTION,
)
CAUSES: tuple[Cause, ...] = tuple(Cause)  # the report's column order
HOURS_OF_WEEK = 168


# -- inputs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraInfo:
    camera_id: str
    area: str
    isp: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupHour:
    camera: str
    hour: datetime  # aware, start of the hour
    probes_ok: int
    probes_failed: int
    frames_received: float
    frames_expected: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CauseSpan:
    camera: str
    cause: Cause
    start: datetime
    end: datetime | None  # None: still open


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSpan:
    camera: str
    state: str  # "up", "degraded", "down"
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerRequest:
    camera: str
    kind: str
    t: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    """A vendor ticket, as far as the report needs it (tickets come with a later issue)."""

    number: str
    camera: str
    opened_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekInputs:
    week: IsoWeek
    cameras: Sequence[CameraInfo]
    rollups: Sequence[RollupHour] = ()
    cause_spans: Sequence[CauseSpan] = ()
    state_spans: Sequence[StateSpan] = ()
    owner_requests: Sequence[OwnerRequest] = ()
    tickets: Sequence[Ticket] = ()
    observed_until: datetime | None = None  # the monitor's last decided round: open spans end there
    registry_findings: Sequence[StoredFinding] = ()  # current at some time in the week: passed through
    drift_findings: Sequence[DriftRecord] = ()  # open at some time in the week: passed through
    maintenance: Sequence[Maintenance] = ()  # planned works overlapping the week: passed through


# -- outputs -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """One camera's week, or the sum over a group of cameras (area, ISP, fleet)."""

    name: str
    area: str = ""
    isp: str = ""
    cameras: int = 1
    probes_ok: int = 0
    probes: int = 0
    frames_received: float = 0.0
    frames_expected: float = 0.0
    down_minutes: float = 0.0
    degraded_minutes: float = 0.0
    by_cause: Mapping[Cause, float] = field(default_factory=dict)  # every cause, minutes
    owner_requests: int = 0
    tickets_opened: int = 0
    tickets_closed: int = 0
    repair_hours: tuple[float, ...] = ()

    @property
    def uptime_pct(self) -> float | None:
        return 100.0 * self.probes_ok / self.probes if self.probes else None

    @property
    def completeness_pct(self) -> float | None:
        return 100.0 * self.frames_received / self.frames_expected if self.frames_expected else None

    @property
    def downtime_minutes(self) -> float:
        return sum(self.by_cause.values())

    @property
    def mttr_hours(self) -> float | None:
        return sum(self.repair_hours) / len(self.repair_hours) if self.repair_hours else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """This week minus last week: percentage points, minutes, counts."""

    uptime_pp: float | None
    completeness_pp: float | None
    downtime_minutes: float
    by_cause: Mapping[Cause, float]
    owner_requests: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChronicCamera:
    camera_id: str
    area: str
    isp: str
    uptime_pct: float
    previous_uptime_pct: float
    downtime_minutes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Heatmap:
    """Recording completeness (%) per area and local hour of the week (Monday 00-01 is column 0)."""

    areas: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]  # [area][hour of week]


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyReport:
    week: IsoWeek
    tz: str
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    generated_at: datetime
    complete: bool  # False when ``now`` is before the week's end
    chronic_below_pct: float
    cameras: tuple[Figures, ...]
    areas: tuple[Figures, ...]
    isps: tuple[Figures, ...]
    fleet: Figures
    previous_fleet: Figures | None
    change: Change | None
    area_changes: Mapping[str, Change]
    chronic: tuple[ChronicCamera, ...]
    heatmap: Heatmap
    registry_findings: tuple[StoredFinding, ...] = ()  # registry rows to check
    drift_findings: tuple[DriftRecord, ...] = ()  # cameras to check: settings not as approved
    maintenance: tuple[Maintenance, ...] = ()  # planned works in the week (owner and vendor contact waited)


# -- the maths ---------------------------------------------------------------------------------------


def _clip(start: datetime, end: datetime | None, lo: datetime, hi: datetime) -> tuple[datetime, datetime] | None:
    s, e = max(start, lo), min(end or hi, hi)
    return (s, e) if e > s else None


def minutes_by_cause(spans: Iterable[CauseSpan], lo: datetime, hi: datetime) -> dict[Cause, float]:
    """One camera's spans -> minutes per cause in [lo, hi), each instant counted once (precedence)."""
    rank = {c: i for i, c in enumerate(CAUSE_PRECEDENCE)}
    edges: list[tuple[datetime, int, Cause]] = []
    for sp in spans:
        cl = _clip(sp.start, sp.end, lo, hi)
        if cl:
            edges += [(cl[0], 1, sp.cause), (cl[1], -1, sp.cause)]
    out = dict.fromkeys(CAUSES, 0.0)
    if not edges:
        return out
    edges.sort(key=lambda e: e[0])
    active: dict[Cause, int] = defaultdict(int)
    prev = edges[0][0]
    for t, delta, cause in edges:
        if t > prev:
            live = [c for c, n in active.items() if n > 0]
            if live:
                out[min(live, key=rank.__getitem__)] += (t - prev).total_seconds() / 60.0
            prev = t
        active[cause] += delta
    return out


def _state_minutes(spans: Iterable[StateSpan], state: str, lo: datetime, hi: datetime) -> float:
    total = 0.0
    for sp in spans:
        if sp.state == state and (cl := _clip(sp.start, sp.end, lo, hi)):
            total += (cl[1] - cl[0]).total_seconds() / 60.0
    return total


def camera_figures(inputs: WeekInputs, tz: ZoneInfo, now: datetime) -> tuple[Figures, ...]:
    lo, end = inputs.week.bounds(tz)
    hi = max(lo, min(end, now, inputs.observed_until or end))
    rollups, causes, states = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in inputs.rollups:
        if lo <= r.hour < end:
            rollups[r.camera].append(r)
    for sp in inputs.cause_spans:
        causes[sp.camera].append(sp)
    for st in inputs.state_spans:
        states[st.camera].append(st)
    requests = defaultdict(int)
    for q in inputs.owner_requests:
        if lo <= q.t < end:
            requests[q.camera] += 1
    opened, closed, repair = defaultdict(int), defaultdict(int), defaultdict(list)
    for tk in inputs.tickets:
        if lo <= tk.opened_at < end:
            opened[tk.camera] += 1
        if tk.closed_at is not None and lo <= tk.closed_at < end:
            closed[tk.camera] += 1
            repair[tk.camera].append((tk.closed_at - tk.opened_at).total_seconds() / 3600.0)
    out = []
    for cam in sorted(inputs.cameras, key=lambda c: c.camera_id):
        rs, cid = rollups.get(cam.camera_id, ()), cam.camera_id
        ok = sum(r.probes_ok for r in rs)
        out.append(Figures(
            name=cid, area=cam.area, isp=cam.isp, cameras=1,
            probes_ok=ok, probes=ok + sum(r.probes_failed for r in rs),
            frames_received=sum(r.frames_received for r in rs), frames_expected=sum(r.frames_expected for r in rs),
            down_minutes=_state_minutes(states.get(cid, ()), "down", lo, hi),
            degraded_minutes=_state_minutes(states.get(cid, ()), "degraded", lo, hi),
            by_cause=minutes_by_cause(causes.get(cid, ()), lo, hi),
            owner_requests=requests.get(cid, 0), tickets_opened=opened.get(cid, 0),
            tickets_closed=closed.get(cid, 0), repair_hours=tuple(repair.get(cid, ())),
        ))
    return tuple(out)


def combine(name: str, figures: Sequence[Figures]) -> Figures:
    by_cause = dict.fromkeys(CAUSES, 0.0)
    for f in figures:
        for c, m in f.by_cause.items():
            by_cause[c] += m
    return Figures(
        name=name, cameras=len(figures),
        probes_ok=sum(f.probes_ok for f in figures), probes=sum(f.probes for f in figures),
        frames_received=sum(f.frames_received for f in figures),
        frames_expected=sum(f.frames_expected for f in figures),
        down_minutes=sum(f.down_minutes for f in figures), degraded_minutes=sum(f.degraded_minutes for f in figures),
        by_cause=by_cause, owner_requests=sum(f.owner_requests for f in figures),
        tickets_opened=sum(f.tickets_opened for f in figures), tickets_closed=sum(f.tickets_closed for f in figures),
        repair_hours=tuple(h for f in figures for h in f.repair_hours),
    )


def group_figures(cameras: Sequence[Figures], key: str) -> tuple[Figures, ...]:
    groups: dict[str, list[Figures]] = defaultdict(list)
    for f in cameras:
        groups[getattr(f, key)].append(f)
    return tuple(combine(name, groups[name]) for name in sorted(groups))


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def change(cur: Figures, prev: Figures) -> Change:
    return Change(
        uptime_pp=_diff(cur.uptime_pct, prev.uptime_pct),
        completeness_pp=_diff(cur.completeness_pct, prev.completeness_pct),
        downtime_minutes=cur.downtime_minutes - prev.downtime_minutes,
        by_cause={c: cur.by_cause.get(c, 0.0) - prev.by_cause.get(c, 0.0) for c in CAUSES},
        owner_requests=cur.owner_requests - prev.owner_requests,
    )


def chronic_cameras(cur: Sequence[Figures], prev: Sequence[Figures], below_pct: float) -> tuple[ChronicCamera, ...]:
    """Cameras whose uptime was below ``below_pct`` this week and the week before (both measured)."""
    before = {f.name: f.uptime_pct for f in prev}
    out = []
    for f in cur:
        p = before.get(f.name)
        if f.uptime_pct is not None and p is not None and f.uptime_pct < below_pct and p < below_pct:
            out.append(ChronicCamera(camera_id=f.name, area=f.area, isp=f.isp, uptime_pct=f.uptime_pct,
                                     previous_uptime_pct=p, downtime_minutes=f.downtime_minutes))
    return tuple(sorted(out, key=lambda c: (c.uptime_pct, c.camera_id)))


def hour_of_week(t: datetime, tz: ZoneInfo) -> int:
    local = t.astimezone(tz)
    return local.weekday() * 24 + local.hour


def completeness_heatmap(inputs: WeekInputs, tz: ZoneInfo) -> Heatmap:
    """Completeness per area per local hour of the week. On a daylight-saving day the repeated hour adds
    into one column and the skipped one stays empty (None)."""
    lo, hi = inputs.week.bounds(tz)
    area_of = {c.camera_id: c.area for c in inputs.cameras}
    areas = tuple(sorted(set(area_of.values())))
    index = {a: i for i, a in enumerate(areas)}
    got = [[0.0] * HOURS_OF_WEEK for _ in areas]
    want = [[0.0] * HOURS_OF_WEEK for _ in areas]
    how_cache: dict[datetime, int] = {}
    for r in inputs.rollups:
        a = area_of.get(r.camera)
        if a is None or not lo <= r.hour < hi:
            continue
        h = how_cache.get(r.hour)
        if h is None:
            h = how_cache[r.hour] = hour_of_week(r.hour, tz)
        got[index[a]][h] += r.frames_received
        want[index[a]][h] += r.frames_expected
    values = tuple(
        tuple(100.0 * g / w if w else None for g, w in zip(got[i], want[i], strict=True)) for i in range(len(areas))
    )
    return Heatmap(areas=areas, values=values)


def weekly_report(
    current: WeekInputs,
    previous: WeekInputs | None,
    *,
    tz: ZoneInfo,
    now: datetime,
    chronic_below_pct: float = 95.0,
) -> WeeklyReport:
    """The whole report for ``current.week``; ``previous`` (the week before) feeds the chronic list and
    the week-over-week change."""
    start, end = current.week.bounds(tz)
    cams = camera_figures(current, tz, now)
    areas, isps = group_figures(cams, "area"), group_figures(cams, "isp")
    fleet = combine("fleet", cams)
    prev_cams: tuple[Figures, ...] = ()
    prev_fleet = None
    area_changes: dict[str, Change] = {}
    if previous is not None:
        prev_cams = camera_figures(previous, tz, now)
        if any(f.probes for f in prev_cams):
            prev_fleet = combine("fleet", prev_cams)
            prev_areas = {f.name: f for f in group_figures(prev_cams, "area")}
            area_changes = {a.name: change(a, prev_areas[a.name]) for a in areas if a.name in prev_areas}
    return WeeklyReport(
        week=current.week, tz=tz.key, start=start, end=end, generated_at=now, complete=now >= end,
        chronic_below_pct=chronic_below_pct, cameras=cams, areas=areas, isps=isps, fleet=fleet,
        previous_fleet=prev_fleet, change=change(fleet, prev_fleet) if prev_fleet else None,
        area_changes=area_changes, chronic=chronic_cameras(cams, prev_cams, chronic_below_pct),
        heatmap=completeness_heatmap(current, tz), registry_findings=tuple(current.registry_findings),
        drift_findings=tuple(current.drift_findings), maintenance=tuple(current.maintenance),
    )


def worst_cameras(report: WeeklyReport, n: int = 20) -> tuple[Figures, ...]:
    """The ``n`` cameras with the lowest uptime (then most downtime), for the mail; the CSV has them all."""
    measured = [f for f in report.cameras if f.uptime_pct is not None]
    ranked = sorted(measured, key=lambda f: (f.uptime_pct, -f.downtime_minutes, f.name))
    return tuple(f for f in ranked[:n] if f.uptime_pct < 100.0 or f.downtime_minutes > 0)

