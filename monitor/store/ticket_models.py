"""Vendor tickets and vendor API tokens in the store (revision 0003).

Only a SHA-256 of a vendor token is stored; the plaintext is shown once, when it is created.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import Base
from monitor.store.types import UTCDateTime


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("incident_id", "camera_id", name="uq_tickets_incident_camera"),
        Index("ix_tickets_vendor_state", "vendor", "state"),
    )

    number: Mapped[str] = mapped_column(String(16), primary_key=True)  # T-2026-000123
    incident_id: Mapped[str] = mapped_column(String(32), index=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    vendor: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[dict] = mapped_column(JSON)  # snapshot: name, contact, phone, email, lang
    steps_taken: Mapped[list] = mapped_column(JSON)
    evidence: Mapped[list] = mapped_column(JSON)  # the last probes, scenario format
    timeline: Mapped[list] = mapped_column(JSON)
    visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class VendorTokenRow(Base):
    __tablename__ = "vendor_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vendor: Mapped[str] = mapped_column(String(64), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
