"""Drift in the store (revision 0010): each camera's approved baseline, the findings with their times,
and the camera clock offsets measured, kept as long as footage (a lawful-request export states them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import Base
from monitor.store.types import UTCDateTime


class BaselineRow(Base):
    __tablename__ = "drift_baselines"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[str] = mapped_column(String(128))
    parts: Mapped[dict] = mapped_column(JSON)  # masks, position, preset, encoder, identity (absent: not taken)


class DriftFindingRow(Base):
    __tablename__ = "drift_findings"
    __table_args__ = (Index("ix_drift_findings_open", "closed_at", "camera_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    check: Mapped[str] = mapped_column(String(32))
    expected: Mapped[str] = mapped_column(Text)
    observed: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # set back by the service


class ClockReadingRow(Base):
    __tablename__ = "drift_clock_readings"
    __table_args__ = (Index("ix_drift_clock_camera_t", "camera_id", "t"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    t: Mapped[datetime] = mapped_column(UTCDateTime())
    offset_s: Mapped[float] = mapped_column(Float)  # camera UTC - ours (positive: camera ahead)
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)  # the clock was set right after this reading
