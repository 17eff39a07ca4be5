"""Observations in the store: raw rows (short window), state intervals and hourly rollups."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from sqlalchemy import bindparam, case, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from monitor.core.domain import Camera, Observation, ReferenceObservation
from monitor.core.health import observation_state, rollup_share
from monitor.store.models import HourlyRollupRow, ObservationRow, ReferenceRow, StateIntervalRow


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
    """One upsert per round: each (camera, hour) row gains this round's counts (INSERT … ON CONFLICT)."""
    acc: dict[tuple[str, datetime], dict] = {}
    for o in observations:
        sh = rollup_share(o, cameras[o.camera].expected_fps, interval_s)
        row = acc.setdefault((o.camera, sh.hour), {"camera_id": o.camera, "hour": sh.hour, "probes_ok": 0,
                                                   "probes_failed": 0, "frames_received": 0.0,
                                                   "frames_expected": 0.0, "max_gap_s": None})
        row["probes_ok" if sh.probe_ok else "probes_failed"] += 1
        row["frames_received"] += sh.frames_received
        row["frames_expected"] += sh.frames_expected
        if sh.max_gap_s is not None:
            row["max_gap_s"] = sh.max_gap_s if row["max_gap_s"] is None else max(row["max_gap_s"], sh.max_gap_s)
    if not acc:
        return
    upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    t = HourlyRollupRow.__table__
    stmt = upsert(t)
    new, old = stmt.excluded.max_gap_s, t.c.max_gap_s
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.camera_id, t.c.hour],
        set_={
            "probes_ok": t.c.probes_ok + stmt.excluded.probes_ok,
            "probes_failed": t.c.probes_failed + stmt.excluded.probes_failed,
            "frames_received": t.c.frames_received + stmt.excluded.frames_received,
            "frames_expected": t.c.frames_expected + stmt.excluded.frames_expected,
            "max_gap_s": case((old.is_(None), new), (new.is_(None), old), (new > old, new), else_=old),
        },
    )
    session.execute(stmt, list(acc.values()))


def _update_intervals(session, observations, cameras) -> None:
    """Close a camera's open interval and open the next one only when its state changes (Core, no ORM)."""
    ids = {o.camera for o in observations}
    if not ids:
        return
    t = StateIntervalRow.__table__
    current = {cam: (iid, state) for iid, cam, state in session.execute(
        select(t.c.id, t.c.camera_id, t.c.state).where(t.c.end.is_(None), t.c.camera_id.in_(ids)))}
    closes: list[dict] = []
    opens: list[dict] = []
    for o in sorted(observations, key=lambda o: o.t):
        state = observation_state(o, cameras[o.camera].expected_fps).value
        cur = current.get(o.camera)
        if cur is not None and cur[1] == state:
            continue
        if cur is not None:
            closes.append({"iid": cur[0], "end_t": o.t})
        opens.append({"camera_id": o.camera, "state": state, "cause": None, "start": o.t, "end": None})
        current[o.camera] = (None, state)  # opened below; a second change in one round is not expected
    if closes:
        session.execute(update(t).where(t.c.id == bindparam("iid")).values(end=bindparam("end_t")), closes)
    if opens:
        session.execute(insert(t), opens)


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
