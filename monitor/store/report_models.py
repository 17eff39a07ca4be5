"""Tables of the weekly report: who was in which incident when (cause per camera over time), and which
weekly reports were sent.

``incident_spans`` keeps the history that ``incidents`` overwrites: each row is one camera's stay in one
incident under one cause. It is derived from the incident rows as the decision loop writes them
(:func:`sync_incident_spans`), so live and replay record it through the same path.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from monitor.store.models import Base, IncidentRow
from monitor.store.types import UTCDateTime


class IncidentSpanRow(Base):
    """One camera's membership of one incident under one cause, from ``start`` until ``end`` (open: None)."""

    __tablename__ = "incident_spans"
    __table_args__ = (
        Index("ix_incident_spans_camera_start", "camera_id", "start"),
        Index("ix_incident_spans_incident_open", "incident_id", "end"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str] = mapped_column(String(64))
    cause: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SentReportRow(Base):
    """A weekly report claimed for sending (``sending``), sent (``sent``) or failed (``failed``).

    The primary key is the ISO week: the claim is an INSERT (or a conditional UPDATE of a failed or
    stale claim), so two schedulers, or a restart, can never both send one week's report.
    """

    __tablename__ = "sent_reports"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)  # "2026-W45"
    status: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


def sync_incident_spans(session: Session, row: IncidentRow) -> None:
    """Make the open spans of ``row``'s incident match its current cause and cameras (closed: none).

    Spans start and end at the decision record (``row.updated_at``): the opening and the closing
    hysteresis both delay them by about the same few intervals, so a span's length matches the fault's.
    (The members' back-dated ``since`` would shift only the start, and would carry an area outage's
    start into the monitor outage that rescopes it.)
    """
    when = row.updated_at
    wanted = {} if row.state == "closed" else {c: row.cause for c in row.cameras or ()}
    with session.no_autoflush:
        open_spans = session.scalars(
            select(IncidentSpanRow).where(IncidentSpanRow.incident_id == row.id, IncidentSpanRow.end.is_(None))
        ).all()
    kept = set()
    for span in open_spans:
        if wanted.get(span.camera_id) == span.cause and span.camera_id not in kept:
            kept.add(span.camera_id)
        else:
            span.end = when
    for cam, cause in wanted.items():
        if cam not in kept:
            session.add(IncidentSpanRow(incident_id=row.id, camera_id=cam, cause=cause, start=when, end=None))


def _before_flush(session: Session, _context, _instances) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, IncidentRow) and (obj in session.new or session.is_modified(obj)):
            sync_incident_spans(session, obj)


def track_incident_spans(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Record incident spans whenever sessions from ``sessions`` write an incident row. Idempotent."""
    if not event.contains(sessions, "before_flush", _before_flush):
        event.listen(sessions, "before_flush", _before_flush)
    return sessions
