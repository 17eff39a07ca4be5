"""The cluster in the database: node heartbeats and the decider's lease with its fencing epoch.

Every change of the lease is one conditional UPDATE of its single row, so PostgreSQL's row lock (or
SQLite's database lock) makes a take-over and a renewal mutually exclusive:

- **take**: only an expired or unheld lease; the epoch rises by one.
- **renew**: only at the holder's own epoch and instance; a leader whose lease lapsed but that nobody took
  keeps it (nobody decided in between).
- **fence**: a renewal inside a decision's own transaction. PostgreSQL holds the row lock until the commit:
  a take-over waiting on it finds the renewed expiry and fails. If a take-over came first, the fence finds
  another epoch, raises :class:`Deposed`, and the whole transaction (state, incidents, outbox) rolls back.

Times are the nodes' own UTC clocks: keep them within a few seconds of each other (NTP), far below the
lease (30 s by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from monitor.core.cluster import LeaseSeen, NodeSeen
from monitor.store.models import ClusterNodeRow, LeaseRow, SharedFrameStatsRow

DECIDER = "decider"


class Deposed(Exception):
    """The lease is held at another epoch: this node no longer decides."""


def beat(session: Session, node: NodeSeen, host: str, pid: int) -> None:
    """This node's heartbeat (its row created on the first)."""
    row = session.get(ClusterNodeRow, node.id)
    if row is None:
        row = ClusterNodeRow(id=node.id)
        session.add(row)
    row.host, row.pid, row.records, row.decides = host, pid, node.records, node.decides
    row.started_at, row.heartbeat_at = node.started_at, node.heartbeat_at


def take(session: Session, node: str, instance: str, now: datetime, lease: timedelta,
         name: str = DECIDER) -> int | None:
    """Take the lease if it is unheld or expired; the new epoch, or None (somebody else holds it)."""
    res = session.execute(
        update(LeaseRow)
        .where(LeaseRow.name == name, or_(LeaseRow.holder.is_(None), LeaseRow.expires_at.is_(None),
                                          LeaseRow.expires_at <= now))
        .values(holder=node, instance=instance, epoch=LeaseRow.epoch + 1, expires_at=now + lease)
        .execution_options(synchronize_session=False))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(LeaseRow.epoch).where(LeaseRow.name == name))


def renew(session: Session, node: str, instance: str, epoch: int, now: datetime, lease: timedelta,
          name: str = DECIDER) -> bool:
    """Extend the lease held at ``epoch`` by this instance; False when another take-over came between."""
    res = session.execute(
        update(LeaseRow)
        .where(LeaseRow.name == name, LeaseRow.holder == node, LeaseRow.instance == instance,
               LeaseRow.epoch == epoch)
        .values(expires_at=now + lease)
        .execution_options(synchronize_session=False))
    return res.rowcount == 1  # type: ignore[attr-defined]


def fence(session: Session, node: str, instance: str, epoch: int, now: datetime, lease: timedelta) -> None:
    """In a decision's transaction: renew at ``epoch`` or raise :class:`Deposed` (the caller rolls back)."""
    if not renew(session, node, instance, epoch, now, lease):
        raise Deposed(f"the decider lease is no longer held by {node} at epoch {epoch}")


def release(session: Session, node: str, instance: str, epoch: int, name: str = DECIDER) -> None:
    """Give the lease up at a clean stop, so that a standby takes over at its next heartbeat."""
    session.execute(
        update(LeaseRow)
        .where(LeaseRow.name == name, LeaseRow.holder == node, LeaseRow.instance == instance,
               LeaseRow.epoch == epoch)
        .values(holder=None, instance=None, expires_at=None)
        .execution_options(synchronize_session=False))


def leave(session: Session, node: str) -> None:
    """A node stopping cleanly takes its row away: its cameras go to the others at once."""
    row = session.get(ClusterNodeRow, node)
    if row is not None:
        session.delete(row)


def nodes(session: Session) -> list[NodeSeen]:
    return [NodeSeen(id=r.id, started_at=r.started_at, heartbeat_at=r.heartbeat_at, records=r.records,
                     decides=r.decides) for r in session.scalars(select(ClusterNodeRow).order_by(ClusterNodeRow.id))]


def lease_row(session: Session, name: str = DECIDER) -> LeaseSeen | None:
    r = session.get(LeaseRow, name)
    return None if r is None else LeaseSeen(holder=r.holder, epoch=r.epoch, expires_at=r.expires_at)


def publish_frames(session: Session, node: str, at: datetime, window_s: float,
                   stats: Mapping[str, tuple[int, float, float | None, int, bool]]) -> None:
    """This node's frame statistics (frames, fps, longest gap, bytes, connected) of the cameras it
    records, replacing each camera's previous row (whichever node wrote it)."""
    if not stats:
        return
    session.execute(delete(SharedFrameStatsRow).where(SharedFrameStatsRow.camera_id.in_(list(stats))))
    session.add_all(SharedFrameStatsRow(camera_id=c, node=node, at=at, window_s=window_s, frames=f, fps=fps,
                                        max_gap_s=gap, bytes=b, connected=conn)
                    for c, (f, fps, gap, b, conn) in stats.items())


def shared_frames(session: Session, since: datetime) -> dict[str, SharedFrameStatsRow]:
    """Every camera's statistics published since ``since``."""
    return {r.camera_id: r for r in session.scalars(select(SharedFrameStatsRow).where(SharedFrameStatsRow.at >= since))}
