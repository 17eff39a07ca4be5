"""Observations in the store: raw rows (short window), state intervals and hourly rollups."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from ..domain import Camera, Observation, ReferenceObservation
from ..health import observation_state, rollup_share
from .models import HourlyRollupRow, ObservationRow, ReferenceRow, StateIntervalRow


def _obs_row(o: Observation) -> dict:
    return {
        "t": o.t, "camera_id": o.camera, "reachable": o.reachable, "rtt_ms": o.rtt_ms,
        "onvif_ok": o.onvif_ok, "fps": o.fps, "max_gap_s": o.max_gap_s, "clock_skew_s": o.clock_skew_s,
    }


def record_round(
    session: Session,
    observations: Sequence[Observation],
    references: Sequence[ReferenceObservation],
    cameras: Mapping[str, Camera],
    interval_s: float,
) -> None:
    """Store one probe round: raw rows, rollups and state transitions, in the caller's transaction."""
    if observations:
        session.execute(ObservationRow.__table__.insert(), [_obs_row(o) for o in observations])
    if references:
        session.execute(
            ReferenceRow.__table__.insert(),
            [{"t": r.t, "reference": r.reference, "reachable": r.reachable} for r in references],
        )
    known = [o for o in observations if o.camera in cameras]
    _update_rollups(session, known, cameras, interval_s)
    _update_intervals(session, known, cameras)


def _update_rollups(session, observations, cameras, interval_s) -> None:
    shares = [(o.camera, rollup_share(o, cameras[o.camera].expected_fps, interval_s)) for o in observations]
    keys = {(cid, s.hour) for cid, s in shares}
    if not keys:
        return
    rows = {
        (r.camera_id, r.hour): r
        for r in session.scalars(
            select(HourlyRollupRow).where(tuple_(HourlyRollupRow.camera_id, HourlyRollupRow.hour).in_(keys))
        )
    }
    for cid, s in shares:
        row = rows.get((cid, s.hour))
        if row is None:
            row = HourlyRollupRow(camera_id=cid, hour=s.hour, probes_ok=0, probes_failed=0,
                                  frames_received=0.0, frames_expected=0.0, max_gap_s=None)
            session.add(row)
            rows[(cid, s.hour)] = row
        row.probes_ok += int(s.probe_ok)
        row.probes_failed += int(not s.probe_ok)
        row.frames_received += s.frames_received
        row.frames_expected += s.frames_expected
        if s.max_gap_s is not None:
            row.max_gap_s = s.max_gap_s if row.max_gap_s is None else max(row.max_gap_s, s.max_gap_s)


def _update_intervals(session, observations, cameras) -> None:
    ids = {o.camera for o in observations}
    if not ids:
        return
    open_rows = {
        r.camera_id: r
        for r in session.scalars(
            select(StateIntervalRow).where(StateIntervalRow.end.is_(None), StateIntervalRow.camera_id.in_(ids))
        )
    }
    for o in sorted(observations, key=lambda o: o.t):
        state = observation_state(o, cameras[o.camera].expected_fps).value
        cur = open_rows.get(o.camera)
        if cur is not None and cur.state == state:
            continue
        if cur is not None:
            cur.end = o.t
        new = StateIntervalRow(camera_id=o.camera, state=state, start=o.t, end=None)
        session.add(new)
        open_rows[o.camera] = new


def prune_raw(session: Session, before: datetime) -> int:
    n = session.execute(delete(ObservationRow).where(ObservationRow.t < before)).rowcount
    n += session.execute(delete(ReferenceRow).where(ReferenceRow.t < before)).rowcount
    return n


def iter_records(
    session: Session, since: datetime, until: datetime, batch: int = 5000
) -> Iterator[Observation | ReferenceObservation]:
    """Stored raw observations in time order (references first within one instant), as domain values."""
    refs = session.scalars(
        select(ReferenceRow).where(ReferenceRow.t >= since, ReferenceRow.t < until)
        .order_by(ReferenceRow.t, ReferenceRow.id)
    ).all()
    ri = 0
    q = (
        select(ObservationRow)
        .where(ObservationRow.t >= since, ObservationRow.t < until)
        .order_by(ObservationRow.t, ObservationRow.camera_id)
        .execution_options(yield_per=batch)
    )
    for row in session.scalars(q):
        while ri < len(refs) and refs[ri].t <= row.t:
            r = refs[ri]
            yield ReferenceObservation(t=r.t, reference=r.reference, reachable=r.reachable)
            ri += 1
        yield Observation(
            t=row.t, camera=row.camera_id, reachable=row.reachable, rtt_ms=row.rtt_ms,
            onvif_ok=row.onvif_ok, fps=row.fps, max_gap_s=row.max_gap_s, clock_skew_s=row.clock_skew_s,
        )
    for r in refs[ri:]:
        yield ReferenceObservation(t=r.t, reference=r.reference, reachable=r.reachable)
