"""Drift findings, baselines and camera clock readings in the store (`core.drift` values in and out)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from monitor.core.drift import (
    Action,
    Baseline,
    Check,
    DriftRecord,
    Encoder,
    Finding,
    Identity,
    Mask,
    OpenFinding,
    Position,
    Reconciled,
    Severity,
)
from monitor.store.drift_models import BaselineRow, ClockReadingRow, DriftFindingRow
from monitor.store.models import ObservationRow


def _parts(b: Baseline) -> dict:
    out: dict = {}
    if b.masks is not None:
        out["masks"] = [{"polygon": [list(p) for p in m.polygon], "enabled": m.enabled} for m in b.masks]
    for name in ("position", "encoder", "identity"):
        value = getattr(b, name)
        if value is not None:
            out[name] = asdict(value)
    if b.preset is not None:
        out["preset"] = b.preset
    return out


def _baseline(row: BaselineRow) -> Baseline:
    p = row.parts
    masks = None if "masks" not in p else tuple(
        Mask(polygon=tuple((float(x), float(y)) for x, y in m["polygon"]), enabled=bool(m["enabled"]))
        for m in p["masks"])
    return Baseline(camera_id=row.camera_id, taken_at=row.taken_at, approved_by=row.approved_by, masks=masks,
                    position=Position(**p["position"]) if "position" in p else None, preset=p.get("preset"),
                    encoder=Encoder(**p["encoder"]) if "encoder" in p else None,
                    identity=Identity(**p["identity"]) if "identity" in p else None)


def save_baseline(session: Session, b: Baseline) -> None:
    """Take or refresh a camera's baseline; the camera's open findings close (compared anew from now)."""
    row = session.get(BaselineRow, b.camera_id)
    if row is None:
        row = BaselineRow(camera_id=b.camera_id)
        session.add(row)
    row.taken_at, row.approved_by, row.parts = b.taken_at, b.approved_by, _parts(b)
    for f in session.scalars(select(DriftFindingRow).where(DriftFindingRow.camera_id == b.camera_id,
                                                           DriftFindingRow.closed_at.is_(None))):
        f.closed_at = b.taken_at


def baselines(session: Session) -> dict[str, Baseline]:
    return {r.camera_id: _baseline(r) for r in session.scalars(select(BaselineRow))}


def _open(row: DriftFindingRow) -> OpenFinding:
    return OpenFinding(finding=Finding(camera_id=row.camera_id, check=Check(row.check), expected=row.expected,
                                       observed=row.observed, severity=Severity(row.severity),
                                       action=Action(row.action) if row.action else None),
                       since=row.since, last_seen=row.last_seen)


def open_findings(session: Session) -> list[OpenFinding]:
    rows = session.scalars(select(DriftFindingRow).where(DriftFindingRow.closed_at.is_(None))
                           .order_by(DriftFindingRow.camera_id, DriftFindingRow.check))
    return [_open(r) for r in rows]


def findings(session: Session, *, open_only: bool = True) -> list[DriftFindingRow]:
    q = select(DriftFindingRow).order_by(DriftFindingRow.camera_id, DriftFindingRow.check, DriftFindingRow.since)
    if open_only:
        q = q.where(DriftFindingRow.closed_at.is_(None))
    return list(session.scalars(q))


def write(session: Session, rec: Reconciled, now: datetime) -> dict[tuple[str, Check], int]:
    """Store one run's reconciled findings; returns the ids of the findings opened now, by (camera, check)."""
    rows = {(r.camera_id, Check(r.check)): r for r in
            session.scalars(select(DriftFindingRow).where(DriftFindingRow.closed_at.is_(None)))}
    for o in rec.kept:
        row = rows.get((o.finding.camera_id, o.finding.check))
        if row is not None:
            row.last_seen, row.observed = o.last_seen, o.finding.observed
    for o in rec.closed:
        row = rows.get((o.finding.camera_id, o.finding.check))
        if row is not None:
            row.closed_at = now
    opened = {}
    for o in rec.opened:
        f = o.finding
        row = DriftFindingRow(camera_id=f.camera_id, check=str(f.check), expected=f.expected, observed=f.observed,
                              severity=str(f.severity), action=str(f.action) if f.action else None, since=o.since,
                              last_seen=o.last_seen)
        session.add(row)
        session.flush()
        opened[(f.camera_id, f.check)] = row.id
    return opened


def mark_corrected(session: Session, camera_id: str, check: Check, now: datetime) -> None:
    row = session.scalar(select(DriftFindingRow).where(DriftFindingRow.camera_id == camera_id,
                                                       DriftFindingRow.check == str(check),
                                                       DriftFindingRow.closed_at.is_(None)))
    if row is not None:
        row.corrected_at = now


def record_clock(session: Session, camera_id: str, t: datetime, offset_s: float, corrected: bool) -> None:
    session.add(ClockReadingRow(camera_id=camera_id, t=t, offset_s=offset_s, corrected=corrected))


def clock_readings(session: Session, camera_id: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    rows = session.execute(select(ClockReadingRow.t, ClockReadingRow.offset_s)
                           .where(ClockReadingRow.camera_id == camera_id, ClockReadingRow.t >= start,
                                  ClockReadingRow.t < end).order_by(ClockReadingRow.t))
    return [(t, o) for t, o in rows]


def prune_clock(session: Session, before: datetime) -> int:
    return session.execute(delete(ClockReadingRow).where(ClockReadingRow.t < before)).rowcount  # type: ignore[attr-defined]


def clock_offsets(session: Session, camera_id: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Every camera clock offset measured in [start, end), in time order: the drift checks' readings (kept
    as long as footage) and the minute probes' (kept as long as raw observations)."""
    probes = session.execute(select(ObservationRow.t, ObservationRow.clock_skew_s).where(
        ObservationRow.camera_id == camera_id, ObservationRow.t >= start, ObservationRow.t < end,
        ObservationRow.clock_skew_s.is_not(None)))
    return sorted([*clock_readings(session, camera_id, start, end), *((t, o) for t, o in probes)])


def mask_windows(session: Session, camera_id: str, before_found: timedelta) -> list[tuple[datetime, datetime | None]]:
    """When the camera's privacy masks were not as approved: each privacy_masks finding, from
    ``before_found`` ahead of its first sight (the last check that found them right) to its close."""
    rows = session.execute(select(DriftFindingRow.since, DriftFindingRow.closed_at).where(
        DriftFindingRow.camera_id == camera_id, DriftFindingRow.check == str(Check.PRIVACY_MASKS)))
    return [(since - before_found, closed) for since, closed in rows]


def findings_during(session: Session, lo: datetime, hi: datetime) -> list[DriftRecord]:
    """The drift findings open at some time in [lo, hi), by camera."""
    rows = session.scalars(select(DriftFindingRow).where(
        DriftFindingRow.since < hi, or_(DriftFindingRow.closed_at.is_(None), DriftFindingRow.closed_at >= lo))
        .order_by(DriftFindingRow.camera_id, DriftFindingRow.since))
    return [DriftRecord(camera_id=r.camera_id, check=Check(r.check), expected=r.expected, observed=r.observed,
                        severity=Severity(r.severity), since=r.since, closed_at=r.closed_at,
                        corrected_at=r.corrected_at) for r in rows]
