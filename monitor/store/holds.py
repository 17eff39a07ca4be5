"""Silences and maintenance windows in the store (`core.holds` values in and out)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.core.holds import Maintenance, Silence
from monitor.store.account_models import MaintenanceRow, SilenceRow


def add_silence(session: Session, s: Silence, now: datetime) -> None:
    session.add(SilenceRow(incident_id=s.incident_id, reason=s.reason, ends_at=s.ends_at, by=s.by, created_at=now))


def silences(session: Session, now: datetime) -> list[Silence]:
    """The silences not yet ended."""
    return [Silence(incident_id=r.incident_id, ends_at=r.ends_at, reason=r.reason, by=r.by)
            for r in session.scalars(select(SilenceRow).where(SilenceRow.ends_at > now).order_by(SilenceRow.id))]


def add_window(session: Session, w: Maintenance, now: datetime) -> int:
    row = MaintenanceRow(scope=w.scope, values=list(w.values), starts_at=w.starts_at, ends_at=w.ends_at,
                         reason=w.reason, by=w.by, created_at=now)
    session.add(row)
    session.flush()
    return row.id


def windows(session: Session, now: datetime, *, since: datetime | None = None) -> list[Maintenance]:
    """The windows not yet ended (``since``: also those that ended after it), by start."""
    q = select(MaintenanceRow).where(MaintenanceRow.ends_at > (since or now)).order_by(MaintenanceRow.starts_at)
    return [Maintenance(id=r.id, scope=r.scope, values=tuple(r.values), starts_at=r.starts_at, ends_at=r.ends_at,
                        reason=r.reason, by=r.by) for r in session.scalars(q)]


def windows_during(session: Session, lo: datetime, hi: datetime) -> list[Maintenance]:
    """The windows that overlap [lo, hi), by start."""
    q = select(MaintenanceRow).where(MaintenanceRow.starts_at < hi, MaintenanceRow.ends_at > lo) \
        .order_by(MaintenanceRow.starts_at)
    return [Maintenance(id=r.id, scope=r.scope, values=tuple(r.values), starts_at=r.starts_at, ends_at=r.ends_at,
                        reason=r.reason, by=r.by) for r in session.scalars(q)]
