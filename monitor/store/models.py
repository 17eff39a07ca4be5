"""SQLAlchemy 2 typed models. Repositories turn these rows into domain values and back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from monitor.store.types import UTCDateTime


class Base(DeclarativeBase):
    pass


class CameraRow(Base):
    __tablename__ = "cameras"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    area: Mapped[str] = mapped_column(String(64), index=True)
    isp: Mapped[str] = mapped_column(String(64), index=True)
    line_id: Mapped[str] = mapped_column(String(64))
    expected_fps: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(Text, default="")
    owner_name: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(String(8))
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    lang: Mapped[str] = mapped_column(String(4), default="ja")
    vendor: Mapped[str] = mapped_column(String(64), default="")
    rtsp_url: Mapped[str] = mapped_column(Text, default="")
    onvif_url: Mapped[str] = mapped_column(Text, default="")
    access: Mapped[str | None] = mapped_column(String(8), nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    onvif_user: Mapped[str] = mapped_column(String(128), default="")
    onvif_password_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # an operator's `cameras disable`: neither probed nor recorded until enabled; a re-import leaves it alone
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class ObservationRow(Base):
    __tablename__ = "observations"
    __table_args__ = (Index("ix_observations_camera_t", "camera_id", "t"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    t: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    reachable: Mapped[bool] = mapped_column(Boolean)
    rtt_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    onvif_ok: Mapped[bool] = mapped_column(Boolean)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_gap_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    clock_skew_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class ReferenceRow(Base):
    __tablename__ = "reference_observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    t: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    reachable: Mapped[bool] = mapped_column(Boolean)


class StateIntervalRow(Base):
    """A stretch of time during which one camera was up, degraded or down (with a cause once known)."""

    __tablename__ = "state_intervals"
    __table_args__ = (Index("ix_state_intervals_camera_start", "camera_id", "start"),
                      Index("ix_state_intervals_open", "end", "camera_id"))  # every round looks up the open ones

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str | None] = mapped_column(String(32), nullable=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class HourlyRollupRow(Base):
    __tablename__ = "hourly_rollups"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    probes_ok: Mapped[int] = mapped_column(Integer, default=0)
    probes_failed: Mapped[int] = mapped_column(Integer, default=0)
    frames_received: Mapped[float] = mapped_column(Float, default=0.0)
    frames_expected: Mapped[float] = mapped_column(Float, default=0.0)
    max_gap_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class IncidentRow(Base):
    """An incident as the decision core saw it (issue 3); evidence kept for operators and reports."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cause: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    cameras: Mapped[list] = mapped_column(JSON)
    scope: Mapped[dict] = mapped_column(JSON)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class NotificationRow(Base):
    """A decided notification, keyed for idempotency; delivery comes with the notify issue."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[str] = mapped_column(String(32), ForeignKey("incidents.id"), index=True)
    audience: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EngineStateRow(Base):
    """Checkpoint of the decision core's state after each round, so a restart continues exactly."""

    __tablename__ = "engine_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    t: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[dict] = mapped_column(JSON)


class RegistryFindingRow(Base):
    """The current registry finding of one camera's field: a registry row the observations contradict.

    One row per (camera, field), upserted by every finding of the decision core (the last one counts);
    ``first_found_at`` is when the evidence first showed the value now in ``observed_value``. A withdrawal
    (the evidence agrees with the registry again) keeps the row and sets ``withdrawn_at``. The values are
    JSON so that a frame rate stays a number and a provider a string (SQLite's numeric affinity of a JSON
    column may give 10.0 back as 10: equal, and shown alike)."""

    __tablename__ = "registry_findings"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    registry_value: Mapped[Any] = mapped_column(JSON)
    observed_value: Mapped[Any] = mapped_column(JSON)
    evidence: Mapped[dict] = mapped_column(JSON)
    first_found_at: Mapped[datetime] = mapped_column(UTCDateTime())
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClusterNodeRow(Base):
    """One `mimamori run` process of the cluster: its id and its last heartbeat (`core.cluster`)."""

    __tablename__ = "cluster_nodes"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[bool] = mapped_column(Boolean, default=True)  # takes a share of the cameras to record
    decides: Mapped[bool] = mapped_column(Boolean, default=True)  # may take the decider lease
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LeaseRow(Base):
    """A lease one node holds at a time (the decider's). ``epoch`` rises with every take-over: the fencing
    token every decision write renews the lease at. ``instance`` tells apart two lives of one node id."""

    __tablename__ = "cluster_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    instance: Mapped[str | None] = mapped_column(String(32), nullable=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SharedFrameStatsRow(Base):
    """A recording node's latest frame statistics of one camera, for the decider's probes: the decider
    reads them instead of opening a second stream to a camera another node records."""

    __tablename__ = "cluster_frame_stats"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    window_s: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    max_gap_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    bytes: Mapped[int] = mapped_column(Integer)
    connected: Mapped[bool] = mapped_column(Boolean)
