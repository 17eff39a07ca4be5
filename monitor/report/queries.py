"""The store -> the report maths' input values (frozen dataclasses; the maths never sees a row)."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.core.domain import Cause
from monitor.report.maths import CameraInfo, CauseSpan, OwnerRequest, RollupHour, StateSpan, Ticket, WeekInputs
from monitor.report.week import IsoWeek
from monitor.store.drift import findings_during as drift_during
from monitor.store.findings import findings_during
from monitor.store.holds import windows_during
from monitor.store.models import CameraRow, EngineStateRow, HourlyRollupRow, NotificationRow, StateIntervalRow
from monitor.store.report_models import IncidentSpanRow

OWNER_REQUEST_KINDS = ("reboot_request", "reminder")

def load_cameras(session: Session) -> list[CameraInfo]:
    rows = session.execute(select(CameraRow.camera_id, CameraRow.area, CameraRow.isp).order_by(CameraRow.camera_id))
    return [CameraInfo(camera_id=c, area=a, isp=i) for c, a, i in rows]


def load_week(
    session: Session,
    week: IsoWeek,
    tz: ZoneInfo,
    *,
    cameras: Sequence[CameraInfo] | None = None,
    tickets: Sequence[Ticket] = (),
) -> WeekInputs:
    """Everything the maths needs for one week. Rollups are read as plain tuples (a 1,000-camera week
    is 168,000 of them); spans are those overlapping the week, registry findings those current in it."""
    lo, hi = week.bounds(tz)
    cams = list(cameras) if cameras is not None else load_cameras(session)
    r = HourlyRollupRow
    rollups = [
        RollupHour(camera=c, hour=h, probes_ok=ok, probes_failed=bad, frames_received=fr,
                   frames_expected=fe)
        for c, h, ok, bad, fr, fe in session.execute(
            select(r.camera_id, r.hour, r.probes_ok, r.probes_failed, r.frames_received, r.frames_expected)
            .where(r.hour >= lo, r.hour < hi)
        )
    ]
    s = IncidentSpanRow
    spans = [
        CauseSpan(camera=c, cause=Cause(cause), start=st, end=en)
        for c, cause, st, en in session.execute(
            select(s.camera_id, s.cause, s.start, s.end).where(s.start < hi, or_(s.end.is_(None), s.end > lo))
        )
    ]
    i = StateIntervalRow
    states = [
        StateSpan(camera=c, state=state, start=st, end=en)
        for c, state, st, en in session.execute(
            select(i.camera_id, i.state, i.start, i.end)
            .where(i.state != "up", i.start < hi, or_(i.end.is_(None), i.end > lo))
        )
    ]
    n = NotificationRow
    requests = [
        OwnerRequest(camera=c, kind=k, t=t)
        for c, k, t in session.execute(
            select(n.camera_id, n.kind, n.due_at)
            .where(n.audience == "owner", n.kind.in_(OWNER_REQUEST_KINDS), n.due_at >= lo, n.due_at < hi)
        )
        if c is not None
    ]
    last_round = session.scalar(select(func.max(EngineStateRow.t)))
    return WeekInputs(week=week, cameras=tuple(cams), rollups=tuple(rollups), cause_spans=tuple(spans),
                      state_spans=tuple(states), owner_requests=tuple(requests), tickets=tuple(tickets),
                      observed_until=last_round, registry_findings=tuple(findings_during(session, lo, hi)),
                      drift_findings=tuple(drift_during(session, lo, hi)),
                      maintenance=tuple(windows_during(session, lo, hi)))


def load_tickets(session: Session) -> list[Ticket]:
    """Vendor tickets as the report counts them: opened, and closed (resolved, or cancelled because the
    camera recovered first), whichever week that falls in."""
    from monitor.store.ticket_models import TicketRow

    rows = session.execute(select(TicketRow.number, TicketRow.camera_id, TicketRow.created_at, TicketRow.closed_at))
    return [Ticket(number=n, camera=c, opened_at=o, closed_at=cl) for n, c, o, cl in rows]
