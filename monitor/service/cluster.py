"""This process in the cluster: its heartbeat, whether it decides, and the fence on every decision.

Every `mimamori run` on one database beats every `cluster.heartbeat_s`. One of them holds the decider's
lease (`store.cluster`): it probes, decides and queues; the others stand by, record their share of the
cameras and deliver from the shared outbox. The leader writes each renewal to last `lease_s - heartbeat_s`
(its term); a standby tries again at the term's very end, so it leads within one `cluster.lease_s` of the
leader's last renewal (the leader killed, hung or cut off), and a leader that finds its lease taken stops
deciding at once. Each change of role is one log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config.settings import ClusterSettings
from monitor.core.cluster import ClusterStatus, NodeSeen, alive, cluster_status, leader, owner
from monitor.core.domain import Camera
from monitor.probes.frames import FrameStatsSource
from monitor.probes.rtsp_sample import FrameStats
from monitor.service.app import STORE_DOWN
from monitor.store import cluster as db

log = logging.getLogger("mimamori.cluster")


class Leadership:
    """The lease as this process sees it. ``tick`` runs from a job (blocking: in a thread)."""

    def __init__(self, sessions: sessionmaker[Session], settings: ClusterSettings, now: Callable[[], datetime],
                 *, records: bool = True):
        self.sessions = sessions
        self.node = settings.node_id
        self.decides = settings.decide
        self.recording = records
        self.lease = timedelta(seconds=settings.lease_s)
        self.beat_s = settings.heartbeat_s
        # what a renewal grants: a lease less a beat, so that a standby waking at its end leads within one
        # lease of the last renewal; renewed every beat, so at least two beats (a third of a lease) to spare
        self.term = self.lease - timedelta(seconds=settings.heartbeat_s)
        self._retry_at: datetime | None = None  # a standby's next try: the end of the leader's term
        self.now = now
        self.instance = uuid.uuid4().hex
        self.started_at = now()
        self.epoch: int | None = None  # held at this epoch, or None: standby
        # the recording nodes alive at the last beat (before the first: this one, if it records)
        self.live: tuple[str, ...] = (self.node,) if records else ()
        self._standby_for: str | None = ""  # the leader last named in a standby line ("" before the first)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cluster-beat")

    async def atick(self) -> str | None:
        """``tick`` on this node's own thread: a beat never queues behind probes or recorder work in
        the shared pool (a late beat is a lost lease)."""
        loop = asyncio.get_running_loop()
        change = await loop.run_in_executor(self._pool, self.tick)
        wait = None if self._retry_at is None else (self._retry_at - self.now()).total_seconds()
        if change is None and wait is not None and 0 <= wait < self.beat_s:
            # the leader's term ends before the next beat: try again at its end, not up to a beat later
            await asyncio.sleep(wait + 0.05)
            change = await loop.run_in_executor(self._pool, self.tick)
        return change

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    def tick(self) -> str | None:
        """Beat, then renew the lease or try to take it. Returns "lead" when this process has just taken
        it, "standby" when it has just lost it, else None."""
        now = self.now()
        self._retry_at = None
        with self.sessions.begin() as session:
            db.beat(session, NodeSeen(self.node, self.started_at, now, self.recording, self.decides),
                    socket.gethostname(), os.getpid())
            self.live = tuple(alive(db.nodes(session), now, self.lease, recording=True))
            if not self.decides:
                return self._standby_line(leader(db.lease_row(session), now), "records only and never decides")
            if self.epoch is not None:
                if db.renew(session, self.node, self.instance, self.epoch, now, self.term):
                    return None
                lost, self.epoch = self.epoch, None
                holder = leader(db.lease_row(session), now)
                log.warning("deposed: the decider lease (epoch %d) was taken by %s; this node stands by",
                            lost, holder or "another node")
                self._standby_for = holder
                return "standby"
            epoch = db.take(session, self.node, self.instance, now, self.term)
            if epoch is not None:
                self.epoch = epoch
                log.info("leading: node %s holds the decider lease (epoch %d) and decides", self.node, epoch)
                return "lead"
            row = db.lease_row(session)
            holder = leader(row, now)
            self._retry_at = row.expires_at if holder is not None and row is not None else None
        return self._standby_line(holder, f"decides nothing while {holder or 'another node'} holds the decider "
                                          f"lease; it takes over within {self.lease.total_seconds():g}s of that "
                                          "lease's last renewal")

    def _standby_line(self, holder: str | None, what: str) -> None:
        """One line per leader seen, not one per beat."""
        if holder != self._standby_for:
            self._standby_for = holder
            log.info("standby: node %s %s", self.node, what)
        return None

    def records(self, camera_id: str) -> bool:
        """Whether this node records the camera: its share of the live nodes (`core.cluster.owner`)."""
        return owner(camera_id, self.live) == self.node

    def fence(self, session: Session) -> None:
        """In a decision's transaction: raises :class:`monitor.store.cluster.Deposed` unless this process
        still holds the lease (and renews it)."""
        if self.epoch is None:
            raise db.Deposed(f"node {self.node} does not hold the decider lease")
        db.fence(session, self.node, self.instance, self.epoch, self.now(), self.term)

    def deposed(self) -> None:
        """A fenced write was refused: stand by (one line)."""
        if self.epoch is not None:
            log.warning("deposed: a decision of epoch %d was refused (another node took the lease); this node "
                        "stands by", self.epoch)
            self.epoch = None
            self._standby_for = None

    def leave(self) -> None:
        """At a clean stop: give the lease up and take this node's row away, so that the others take over
        its role and its cameras at their next heartbeat instead of a lease later."""
        with self.sessions.begin() as session:
            if self.epoch is not None:
                db.release(session, self.node, self.instance, self.epoch)
            db.leave(session, self.node)
        self.epoch = None
        self._pool.shutdown(wait=False)


def read_status(sessions: sessionmaker[Session], cameras: list[str], now: datetime,
                lease: timedelta) -> ClusterStatus:
    with sessions() as session:
        return cluster_status(db.nodes(session), db.lease_row(session), cameras, now, lease)


class SharedFrames:
    """The decider's frame source for a camera another node records: that node's published statistics
    (`store.cluster.publish_frames`), if fresh within ``max_age``; else ``fallback`` (RTSP sampling).
    One read of the table serves a whole round (it is read again after a second)."""

    def __init__(self, sessions: sessionmaker[Session], fallback: FrameStatsSource, max_age: timedelta,
                 now: Callable[[], datetime]):
        self.sessions = sessions
        self.fallback = fallback
        self.max_age = max_age
        self.now = now
        self._read: tuple[datetime, dict[str, FrameStats]] | None = None

    async def stats(self, camera: Camera, window_s: float) -> FrameStats | None:
        st = (await self._table()).get(camera.camera_id)
        return st if st is not None else await self.fallback.stats(camera, window_s)

    async def _table(self) -> dict[str, FrameStats]:
        now = self.now()
        if self._read is not None and now - self._read[0] < timedelta(seconds=1):
            return self._read[1]

        def read() -> dict[str, FrameStats]:
            with self.sessions() as session:
                return {c: FrameStats(frames=r.frames, fps=r.fps, max_gap_s=r.max_gap_s, bytes=r.bytes,
                                      connected=r.connected)
                        for c, r in db.shared_frames(session, now - self.max_age).items()}
        try:
            table = await asyncio.to_thread(read)
        except STORE_DOWN:  # the database is away: sample the streams meanwhile
            table = {}
        self._read = (now, table)
        return table


async def publish_frames(sessions: sessionmaker[Session], node: str, at: datetime, window_s: float,
                         table: dict[str, tuple[int, float, float | None, int, bool]]) -> None:
    def write() -> None:
        with sessions.begin() as session:
            db.publish_frames(session, node, at, window_s, table)
    await asyncio.to_thread(write)
