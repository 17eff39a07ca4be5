"""The durable outbox: one row per decided notification, claimed by conditional UPDATE.

notify keeps its own ``DeclarativeBase`` (``NotifyBase``, tables ``ntf_*``) so it imports nothing
of the monitor; the monitor creates these tables with ``NotifyBase.metadata.create_all`` or
includes the metadata in its migrations.

Row life::

    queued ──claim──► claimed ──sent──► sent ──callback──► delivered | undelivered
       ▲                 │  (transient: back to queued with next_attempt_at)
       └─────────────────┤
                         └──permanent / deadline──► fallback (a new row for the next channel) | failed

A claim whose worker died is taken over after the lease. That resends a message whose
provider accepted it just before the crash (at-least-once in that short window); the email
Message-ID and the webhook Idempotency-Key are derived from the row key so receivers can tell.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from notify.message import Message, Recipient


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python; ``timestamptz`` on PostgreSQL, naive UTC on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class NotifyBase(DeclarativeBase):
    pass


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SENT = "sent"  # accepted by the provider
    FILED = "filed"  # written to the local outbox folder (no provider configured): nobody was contacted
    DELIVERED = "delivered"  # the provider confirmed delivery
    UNDELIVERED = "undelivered"  # the provider reported failure after accepting
    FAILED = "failed"  # permanent failure, no channel left
    FALLBACK = "fallback"  # permanent failure, replaced by a row for the next channel
    CANCELLED = "cancelled"  # it waited (a silence, planned works) and no longer made sense when its time came


class OutboxRow(NotifyBase):
    __tablename__ = "ntf_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    audience: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[dict[str, Any]] = mapped_column(JSON)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(255), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_ntf_outbox_due", "status", "next_attempt_at"),)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxItem:
    """A row as the dispatcher and the monitor see it."""

    id: int
    key: str
    message: Message
    recipient: Recipient
    context: Mapping[str, Any]
    status: OutboxStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    deadline: datetime
    claimed_by: str | None
    provider_id: str | None
    last_error: str | None
    parent_id: int | None

    @classmethod
    def from_row(cls, row: OutboxRow) -> OutboxItem:
        message = Message.from_json(
            {
                "kind": row.kind,
                "lang": row.lang,
                "channel": row.channel,
                "subject": row.subject,
                "text": row.text,
                "html": row.html,
                "idempotency_key": row.idempotency_key,
            }
        )
        return cls(
            id=row.id,
            key=row.idempotency_key,
            message=message,
            recipient=Recipient.from_json(row.recipient),
            context=dict(row.context),
            status=OutboxStatus(row.status),
            attempts=row.attempts,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            deadline=row.deadline,
            claimed_by=row.claimed_by,
            provider_id=row.provider_id,
            last_error=row.last_error,
            parent_id=row.parent_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueued:
    id: int
    created: bool  # False: a row with this key already existed and was left alone


class Outbox:
    """Repository over ``ntf_outbox``. Every method runs in its own short transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- writing decisions -------------------------------------------------------------------

    def enqueue(
        self,
        *,
        key: str,
        message: Message,
        recipient: Recipient,
        context: Mapping[str, Any],
        now: datetime,
        deadline: datetime,
        not_before: datetime | None = None,
        parent_id: int | None = None,
        session: Session | None = None,
    ) -> Enqueued:
        """Insert the row unless one with ``key`` exists (then nothing changes).

        ``key`` is the caller's idempotency key (the monitor's: the decided notification's key and the
        recipient's index); the outbox only needs it to name one message, ever.

        Pass ``session`` to enqueue inside the caller's transaction (same database), so the
        decision and its notification commit together; the caller then commits.
        """
        values = {
            "idempotency_key": key,
            "kind": str(message.kind),
            "lang": str(message.lang),
            "audience": str(message.audience),
            "channel": str(message.channel),
            "recipient": recipient.to_json(),
            "context": dict(context),
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "status": str(OutboxStatus.QUEUED),
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": not_before or now,
            "deadline": deadline,
            "parent_id": parent_id,
        }
        if session is not None:
            return self._insert_if_absent(session, key, values)
        with self._sessions.begin() as s:
            return self._insert_if_absent(s, key, values)

    @staticmethod
    def _insert_if_absent(session: Session, key: str, values: dict[str, Any]) -> Enqueued:
        dialect = session.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            stmt = (
                insert(OutboxRow)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(OutboxRow.id)
            )
            new_id = session.execute(stmt).scalar_one_or_none()
            if new_id is not None:
                return Enqueued(id=new_id, created=True)
        else:
            existing = session.scalar(select(OutboxRow.id).where(OutboxRow.idempotency_key == key))
            if existing is None:
                row = OutboxRow(**values)
                session.add(row)
                session.flush()
                return Enqueued(id=row.id, created=True)
        existing = session.scalar(select(OutboxRow.id).where(OutboxRow.idempotency_key == key))
        assert existing is not None
        return Enqueued(id=existing, created=False)

    # -- claiming ------------------------------------------------------------------------------

    def due_ids(self, *, now: datetime, lease: timedelta, limit: int) -> list[int]:
        with self._sessions() as s:
            return list(
                s.scalars(
                    select(OutboxRow.id)
                    .where(self._claimable(now, lease))
                    .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                    .limit(limit)
                )
            )

    @staticmethod
    def _claimable(now: datetime, lease: timedelta):
        return or_(
            and_(OutboxRow.status == OutboxStatus.QUEUED, OutboxRow.next_attempt_at <= now),
            and_(OutboxRow.status == OutboxStatus.CLAIMED, OutboxRow.claimed_at <= now - lease),
        )

    def claim(self, row_id: int, *, worker: str, now: datetime, lease: timedelta) -> OutboxItem | None:
        """Take the row if it is still claimable; exactly one worker wins."""
        with self._sessions.begin() as s:
            result = s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, self._claimable(now, lease))
                .values(
                    status=OutboxStatus.CLAIMED,
                    claimed_by=worker,
                    claimed_at=now,
                    attempts=OutboxRow.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return None
            return OutboxItem.from_row(s.get_one(OutboxRow, row_id))

    # -- results -------------------------------------------------------------------------------

    def _finish(self, row_id: int, worker: str, **values: Any) -> bool:
        """Update a row this worker still holds. False if the claim was lost meanwhile."""
        with self._sessions.begin() as s:
            result = s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.status == OutboxStatus.CLAIMED,
                    OutboxRow.claimed_by == worker,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def mark_sent(self, row_id: int, *, worker: str, provider_id: str | None, now: datetime,
                  filed: bool = False) -> bool:
        """Sent (accepted by a provider), or ``filed`` in the local outbox folder: never called sent."""
        status = OutboxStatus.FILED if filed else OutboxStatus.SENT
        return self._finish(row_id, worker, status=status, provider_id=provider_id, finished_at=now, last_error=None)

    def mark_retry(self, row_id: int, *, worker: str, next_attempt_at: datetime, error: str) -> bool:
        return self._finish(
            row_id,
            worker,
            status=OutboxStatus.QUEUED,
            next_attempt_at=next_attempt_at,
            claimed_by=None,
            claimed_at=None,
            last_error=error,
        )

    def mark_cancelled(self, row_id: int, *, worker: str, reason: str, now: datetime) -> bool:
        return self._finish(row_id, worker, status=OutboxStatus.CANCELLED, last_error=reason, finished_at=now)

    def mark_given_up(self, row_id: int, *, worker: str, status: OutboxStatus, error: str, now: datetime) -> bool:
        assert status in (OutboxStatus.FAILED, OutboxStatus.FALLBACK)
        return self._finish(row_id, worker, status=status, last_error=error, finished_at=now)

    def set_delivery_status(
        self, provider_id: str, status: OutboxStatus, *, now: datetime, error: str | None = None
    ) -> OutboxItem | None:
        """Record a provider callback on a sent row. None if no sent row has that id (late,
        repeated or unknown callbacks change nothing)."""
        assert status in (OutboxStatus.DELIVERED, OutboxStatus.UNDELIVERED)
        values: dict[str, Any] = {"status": status, "finished_at": now}
        if error:
            values["last_error"] = error
        with self._sessions.begin() as s:
            row_id = s.scalar(select(OutboxRow.id).where(OutboxRow.provider_id == provider_id))
            if row_id is None:
                return None
            result = s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == OutboxStatus.SENT)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return None
            return OutboxItem.from_row(s.get_one(OutboxRow, row_id))

    # -- reading -------------------------------------------------------------------------------

    def requeue(self, row_id: int, *, now: datetime, deadline: datetime) -> bool:
        """An operator's retry of a row that failed or was not delivered: queued again, from now."""
        with self._sessions.begin() as s:
            result = s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id,
                       OutboxRow.status.in_([str(OutboxStatus.FAILED), str(OutboxStatus.UNDELIVERED)]))
                .values(status=str(OutboxStatus.QUEUED), attempts=0, next_attempt_at=now, deadline=deadline,
                        claimed_by=None, claimed_at=None)
            )
            return result.rowcount == 1

    def get(self, row_id: int) -> OutboxItem | None:
        with self._sessions() as s:
            row = s.get(OutboxRow, row_id)
            return OutboxItem.from_row(row) if row else None

    def by_key(self, key: str) -> OutboxItem | None:
        with self._sessions() as s:
            row = s.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
            return OutboxItem.from_row(row) if row else None

    def all(self) -> list[OutboxItem]:
        with self._sessions() as s:
            return [OutboxItem.from_row(r) for r in s.scalars(select(OutboxRow).order_by(OutboxRow.id))]

    def keys_sent(self, prefix: str) -> set[str]:
        """Keys under ``prefix`` that were decided (any status): what was already sent."""
        with self._sessions() as s:
            return set(s.scalars(select(OutboxRow.idempotency_key).where(OutboxRow.idempotency_key.startswith(prefix))))


__all__ = [
    "Enqueued",
    "NotifyBase",
    "Outbox",
    "OutboxItem",
    "OutboxRow",
    "OutboxStatus",
    "UTCDateTime",
]
