"""The segment index: the recorder's own tables (prefixed ``rec_``) and a repository over them.

The recorder cannot use the monitor's store, so it has its own ``RecorderBase``; the Alembic
migration is generated from ``RecorderBase.metadata``. Timestamps are aware UTC everywhere: stored
naive-UTC on SQLite and ``timestamptz`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, delete, func, select, true, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from recorder.domain import CameraFootage, Segment, SegmentRecord


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python; naive UTC on SQLite, ``timestamp with time zone`` on PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect):
        return dialect.type_descriptor(DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to an aware-UTC column")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RecorderBase(DeclarativeBase):
    """Declarative base of the recorder's tables only."""


class SegmentRow(RecorderBase):
    __tablename__ = "rec_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(512), unique=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    end: Mapped[datetime] = mapped_column(UtcDateTime())
    frames: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    recovered: Mapped[bool] = mapped_column(Boolean, default=False)
    node: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)  # whose disk holds it


class PendingDeletionRow(RecorderBase):
    """The garbage list: a file is listed here before it is unlinked; start-up finishes the list."""

    __tablename__ = "rec_pending_deletions"

    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    listed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    node: Mapped[str | None] = mapped_column(String(128), nullable=True)


class LawfulRequestRow(RecorderBase):
    __tablename__ = "rec_lawful_requests"

    reference: Mapped[str] = mapped_column(String(128), primary_key=True)
    agency: Mapped[str] = mapped_column(String(256))
    legal_basis: Mapped[str] = mapped_column(Text)
    requester: Mapped[str] = mapped_column(String(128))
    camera_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    approver: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AuditRow(RecorderBase):
    """Hash-chained: each row carries the previous row's hash; ``seq`` being the key forbids forks."""

    __tablename__ = "rec_audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _segment(row: SegmentRow) -> Segment:
    return Segment(
        id=row.id,
        camera_id=row.camera_id,
        path=row.path,
        start=row.start,
        end=row.end,
        frames=row.frames,
        bytes=row.bytes,
        sha256=row.sha256,
        recovered=row.recovered,
        node=row.node,
    )


class SegmentIndex:
    """Rows <-> `Segment` values, and the garbage list. Safe to call from worker threads.

    With ``node``, one node's view in a cluster that shares the index: what it adds is marked as on its
    disk, and what works on files (reconcile, retention, the garbage list) sees only its own rows; reads
    for people (segments, footage, status) see every node's."""

    def __init__(self, session_factory: sessionmaker[Session], node: str | None = None):
        self._sessions = session_factory
        self.node = node

    def _mine(self, column):  # noqa: ANN001, ANN202 - a SQLAlchemy column in, a where clause out
        return true() if self.node is None else column == self.node

    def adopt_unowned(self) -> int:
        """Rows written before the index knew nodes become this node's (the one node there was then:
        start that node first after the upgrade); how many."""
        if self.node is None:
            return 0
        with self._sessions.begin() as s:
            n = s.execute(update(SegmentRow).where(SegmentRow.node.is_(None)).values(node=self.node)).rowcount
            s.execute(update(PendingDeletionRow).where(PendingDeletionRow.node.is_(None)).values(node=self.node))
            return int(n or 0)

    def add(self, record: SegmentRecord) -> Segment:
        with self._sessions.begin() as s:
            row = SegmentRow(
                camera_id=record.camera_id,
                path=record.path,
                start=record.start,
                end=record.end,
                frames=record.frames,
                bytes=record.bytes,
                sha256=record.sha256,
                recovered=record.recovered,
                node=self.node,
            )
            s.add(row)
            s.flush()
            return _segment(row)

    def segments(
        self, camera_id: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Segment]:
        """Segments oldest first; with `start`/`end`, those overlapping [start, end)."""
        q = select(SegmentRow).order_by(SegmentRow.start, SegmentRow.id)
        if camera_id is not None:
            q = q.where(SegmentRow.camera_id == camera_id)
        if start is not None:
            q = q.where(SegmentRow.end > start)
        if end is not None:
            q = q.where(SegmentRow.start < end)
        with self._sessions() as s:
            return [_segment(r) for r in s.scalars(q)]

    def retention_candidates(self, cutoff: datetime, oldest: int) -> list[Segment]:
        """What `plan_deletions` needs without loading the whole index: every segment that ended
        before `cutoff`, plus the `oldest` earliest ones still inside the period (for the disk guard)."""
        order = (SegmentRow.start, SegmentRow.id)
        with self._sessions() as s:
            mine = self._mine(SegmentRow.node)
            expired = s.scalars(select(SegmentRow).where(SegmentRow.end < cutoff, mine).order_by(*order)).all()
            young = s.scalars(
                select(SegmentRow).where(SegmentRow.end >= cutoff, mine).order_by(*order).limit(oldest)
            ).all()
            return [_segment(r) for r in (*expired, *young)]

    def paths(self) -> set[str]:
        with self._sessions() as s:
            return set(s.scalars(select(SegmentRow.path).where(self._mine(SegmentRow.node))))

    def last_segment(self, camera_id: str) -> Segment | None:
        q = select(SegmentRow).where(SegmentRow.camera_id == camera_id)
        with self._sessions() as s:
            row = s.scalars(q.order_by(SegmentRow.end.desc(), SegmentRow.id.desc()).limit(1)).first()
            return _segment(row) if row else None

    def footage_by_camera(self) -> dict[str, CameraFootage]:
        """Per camera: how far back its indexed footage reaches, where it ends, how much there is."""
        q = select(
            SegmentRow.camera_id, func.min(SegmentRow.start), func.max(SegmentRow.end), func.count(),
            func.coalesce(func.sum(SegmentRow.bytes), 0),
        ).group_by(SegmentRow.camera_id)
        with self._sessions() as s:
            return {
                cam: CameraFootage(first_start=_aware(a), last_end=_aware(b), segments=n, bytes=int(nbytes))
                for cam, a, b, n, nbytes in s.execute(q)
            }

    def oldest_start_by_camera(self) -> dict[str, datetime]:
        q = select(SegmentRow.camera_id, func.min(SegmentRow.start)).group_by(SegmentRow.camera_id)
        with self._sessions() as s:
            return {cam: _aware(t) for cam, t in s.execute(q)}

    # -- the garbage list ------------------------------------------------------------------------

    def list_for_deletion(self, paths: Iterable[str], reason: str, now: datetime) -> None:
        """Record the files about to be unlinked, in one transaction, before touching any file."""
        with self._sessions.begin() as s:
            known = set(s.scalars(select(PendingDeletionRow.path)))
            for p in paths:
                if p not in known:
                    s.add(PendingDeletionRow(path=p, reason=reason, listed_at=now, node=self.node))
                    known.add(p)

    def pending_deletions(self) -> list[str]:
        with self._sessions() as s:
            return list(s.scalars(select(PendingDeletionRow.path).where(self._mine(PendingDeletionRow.node))
                                  .order_by(PendingDeletionRow.path)))

    def finish_deletions(self, paths: Sequence[str]) -> None:
        """The files are gone (unlinked and the directory fsynced): drop their rows."""
        if not paths:
            return
        with self._sessions.begin() as s:
            s.execute(delete(SegmentRow).where(SegmentRow.path.in_(paths), self._mine(SegmentRow.node)))
            s.execute(delete(PendingDeletionRow).where(PendingDeletionRow.path.in_(paths),
                                                       self._mine(PendingDeletionRow.node)))

    def forget(self, paths: Sequence[str]) -> None:
        """Drop index rows whose files are missing (found at start-up)."""
        if paths:
            with self._sessions.begin() as s:
                s.execute(delete(SegmentRow).where(SegmentRow.path.in_(paths), self._mine(SegmentRow.node)))
