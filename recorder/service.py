"""The `Recorder`: one worker thread per camera, start-up reconciliation, and a janitor thread.

Threads, not processes: each worker spends its time blocked in PyAV's socket reads and muxing, which
run with the GIL released. Measured with benchmarks/bench_recorder.py at 10 and 25 streams the whole
recorder used 8-9.5 CPU-s per stream-hour in steady state (ffmpeg ``-c copy``, one process per
stream: 7.4-9), and about 5 MiB of RSS per stream at 25, so the GIL is far from the limit, while every
extra process would add its own ~35 MiB interpreter, database pool and frame accumulator. Shard
across replicas rather than processes. What keeps the per-frame cost down is in ingest.py (no
per-read Python callback, a lean packet loop) and watchdog.py.

`start`, `stop` and `status` block (database, joins): call them from asyncio via `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from recorder.domain import SegmentRecord, check_camera_id
from recorder.errors import ConfigError, RootTaken
from recorder.index import SegmentIndex
from recorder.ingest import Backoff, CameraWorker, IngestSettings
from recorder.janitor import JanitorResult, run_janitor
from recorder.reconcile import ReconcileReport, reconcile
from recorder.retention import RetentionPolicy
from recorder.stats import FrameStatsAccumulator, RecorderFrameSource

log = logging.getLogger(__name__)
NODE_MARK = ".mimamori-node"  # in the recordings folder: the node that records into it


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderConfig:
    root: Path
    segment_s: float = 60.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0  # FFmpeg's socket timeout: a camera silent this long is reconnected
    # a session whose socket stays busy (RTCP, keep-alive replies) without video for this long is cut off
    # by the watchdog; longer than the read timeout, so that a line that is merely slow keeps its session
    stall_timeout_s: float = 15.0
    backoff: Backoff = field(default_factory=Backoff)
    max_timestamp_jump_s: float = 10.0
    healthy_after_s: float = 30.0
    read_batch_s: float = 0.25  # see IngestSettings
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    janitor_interval_s: float = 300.0
    stats_horizon_s: float = 900.0
    node: str | None = None  # in a cluster: this node's id; its rows in the shared index are its own disk's

    def __post_init__(self) -> None:
        for name in ("segment_s", "open_timeout_s", "read_timeout_s", "stall_timeout_s", "janitor_interval_s",
                     "stats_horizon_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")

    def ingest_settings(self) -> IngestSettings:
        return IngestSettings(
            segment_s=self.segment_s, open_timeout_s=self.open_timeout_s, read_timeout_s=self.read_timeout_s,
            backoff=self.backoff, max_timestamp_jump_s=self.max_timestamp_jump_s,
            healthy_after_s=self.healthy_after_s, read_batch_s=self.read_batch_s,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraStatus:
    camera_id: str
    connected: bool
    fps: float
    sessions: int
    reconnects: int
    last_error: str | None
    last_segment_path: str | None
    last_segment_end: datetime | None
    retention_held: timedelta | None  # how far back this camera's indexed footage reaches
    segments_written: int = 0  # since this recorder started
    bytes_written: int = 0


class Recorder:
    def __init__(
        self,
        config: RecorderConfig,
        session_factory: sessionmaker[Session],
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.index = SegmentIndex(session_factory, config.node)
        self.stats = FrameStatsAccumulator(horizon_s=config.stats_horizon_s)
        self.frame_source = RecorderFrameSource(self.stats, clock)
        self._clock = clock
        self._workers: dict[str, CameraWorker] = {}
        self._janitor_stop = threading.Event()
        self._janitor: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self.reconcile_report: ReconcileReport | None = None
        self.last_janitor: JanitorResult | None = None
        # segments whose index write failed (the database unreachable): indexed again before each janitor
        # pass, so that retention and the free-space guard see them without waiting for a restart
        self._unindexed: list[SegmentRecord] = []
        self._unindexed_lock = threading.Lock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def start(self, cameras: Iterable[tuple[str, str]]) -> None:
        """Reconcile the directory (first call only), then pull each (camera_id, rtsp_url) not yet
        pulled. A camera already running from the same URL is left alone; one whose URL (or the
        credentials in it) changed is stopped, closing its segment, and pulled again from the new one.
        Use `stop_cameras` to drop some."""
        cameras = [(check_camera_id(c), url) for c, url in cameras]
        if self.reconcile_report is None:
            self._claim_root()
            self.reconcile_report = reconcile(self.config.root, self.index)
            log.info("recorder reconciled: %s", self.reconcile_report)
        moved = [c for c, url in cameras if c in self._workers and self._workers[c].url != url]
        if moved:
            log.info("recorder: the registry changed the stream address of %s; reconnecting", ", ".join(moved))
            self.stop_cameras(moved)
        settings = self.config.ingest_settings()
        for camera_id, url in cameras:
            if camera_id in self._workers:
                continue
            worker = CameraWorker(
                camera_id=camera_id, url=url, root=self.config.root, settings=settings, stats=self.stats,
                on_segment=self._index_segment, clock=self._clock,
            )
            self._workers[camera_id] = worker
            worker.start()
        if self._janitor is None:
            self._janitor_stop.clear()
            self._janitor = threading.Thread(target=self._janitor_loop, name="rec-janitor", daemon=True)
            self._janitor.start()
            self._watchdog = threading.Thread(target=self._watchdog_loop, name="rec-watchdog", daemon=True)
            self._watchdog.start()

    def _claim_root(self) -> None:
        """In a cluster, the recordings folder is one node's: its id is written in it on the first start,
        and another node's start in it is refused (it would index and then delete the first one's files).
        Rows written before the index knew nodes become this node's."""
        if self.config.node is None:
            return
        mark = self.config.root / NODE_MARK
        self.config.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            owner = mark.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            mark.write_text(self.config.node + "\n", encoding="utf-8")
            owner = self.config.node
        if owner != self.config.node:
            raise RootTaken(f"the recordings folder {self.config.root} belongs to node {owner!r}, not "
                            f"{self.config.node!r}: give each node its own data_dir (or recorder root)")
        adopted = self.index.adopt_unowned()
        if adopted:
            log.info("recorder: %d segments indexed before the cluster are now node %s's", adopted, self.config.node)

    def _index_segment(self, record: SegmentRecord) -> None:
        try:
            self.index.add(record)
        except Exception as e:  # noqa: BLE001 - the file is safe on disk: held, and indexed when the store is back
            with self._unindexed_lock:
                first = not self._unindexed
                self._unindexed.append(record)
            if first:
                log.warning("recorder: cannot index segments (%s: %s); they are kept on disk and indexed when "
                            "the database is back", type(e).__name__, _first_line(e))

    def index_held(self) -> int:
        """Index the segments whose index write failed, oldest first; how many are still held."""
        with self._unindexed_lock:
            held, self._unindexed = self._unindexed, []
        done = 0
        try:
            for record in held:
                if (self.config.root / record.path).exists():
                    self.index.add(record)
                done += 1
        except Exception:  # noqa: BLE001 - still unreachable: keep the rest for the next pass
            pass
        with self._unindexed_lock:
            self._unindexed = held[done:] + self._unindexed
            left = len(self._unindexed)
        if done:
            log.warning("recorder: indexed %d segment(s) written while the database was unreachable%s", done,
                        f"; {left} still held" if left else "")
        return left

    def stop_cameras(self, camera_ids: Iterable[str]) -> None:
        workers = [self._workers.pop(c) for c in camera_ids if c in self._workers]
        for w in workers:
            w.stop()
        self._join(workers)

    def stop(self) -> None:
        """Stop every worker (each finishes and indexes its open segment) and the janitor."""
        self._janitor_stop.set()
        self.stop_cameras(list(self._workers))
        for t in (self._janitor, self._watchdog):
            if t is not None:
                t.join()
        self._janitor = self._watchdog = None

    def _join(self, workers: list[CameraWorker]) -> None:
        # a worker reading packets stops at the next one; one blocked on a camera that sends no video is
        # cut off after the read timeout; one still opening gives up at its open timeout
        patience = time.monotonic() + min(self.config.read_timeout_s, self.config.stall_timeout_s) + 1
        deadline = patience + self.config.open_timeout_s + 10
        for w in workers:
            if not w.join(max(0.0, patience - time.monotonic())):
                w.abort_session("stopping")
            if not w.join(max(0.0, deadline - time.monotonic())):
                log.error("recorder worker %s did not stop in time", w.camera_id)
            self.stats.untrack(w.camera_id)

    def _watchdog_loop(self) -> None:
        """End sessions that deliver no frame within the stall timeout although their socket stays busy
        (FFmpeg's socket timeout covers the silent ones)."""
        limit = self.config.stall_timeout_s
        while not self._janitor_stop.wait(min(1.0, limit / 4)):
            now = self._clock()
            for w in list(self._workers.values()):
                stalled = w.stalled_for(now)
                if stalled is not None and stalled > limit and not w.aborting:
                    n = w.abort_session(f"no frame within {limit:g} s")
                    log.info("%s: no frame for %.1f s; shut down %d connection(s)", w.camera_id, stalled, n)

    @property
    def cameras(self) -> list[str]:
        return sorted(self._workers)

    @property
    def sources(self) -> dict[str, str]:
        """camera id -> the URL its worker pulls (may hold credentials: never log it)."""
        return {c: w.url for c, w in self._workers.items()}

    def run_janitor(self) -> JanitorResult:
        self.index_held()  # what it deletes and how full the disk is must count every segment on disk
        result = run_janitor(self.config.root, self.index, self.config.retention, self._now())
        self.last_janitor = result
        return result

    def _janitor_loop(self) -> None:
        store_down = False
        while True:
            try:
                if self.index_held() == 0:  # retention is planned from a complete index only
                    self.run_janitor()
                    store_down = False
            except (OperationalError, InterfaceError) as e:  # the database unreachable: the next pass retries
                if not store_down:
                    log.warning("recorder janitor waits for the database (%s)", _first_line(e))
                store_down = True
            except Exception:
                log.exception("recorder janitor pass failed")
            if self._janitor_stop.wait(self.config.janitor_interval_s):
                return

    def status(self, window_s: float = 60.0) -> dict[str, CameraStatus]:
        now = self._clock()
        try:
            oldest, index_up = self.index.oldest_start_by_camera(), True
        except (OperationalError, InterfaceError):  # the database unreachable: the live half of the status still
            oldest, index_up = {}, False
        out = {}
        for camera_id, w in sorted(self._workers.items()):
            st = w.state
            fs = self.stats.window(camera_id, now, window_s)
            seg = st.last_segment
            if seg is None:
                last = self.index.last_segment(camera_id) if index_up else None
                seg_path, seg_end = (last.path, last.end) if last else (None, None)
            else:
                seg_path, seg_end = seg.path, seg.end
            first = oldest.get(camera_id)
            out[camera_id] = CameraStatus(
                camera_id=camera_id, connected=st.connected, fps=fs.fps if fs else 0.0,
                sessions=st.sessions, reconnects=st.reconnects, last_error=st.last_error,
                last_segment_path=seg_path, last_segment_end=seg_end,
                retention_held=(datetime.fromtimestamp(now, UTC) - first) if first else None,
                segments_written=st.segments_written, bytes_written=st.bytes_written,
            )
        return out


def _first_line(e: Exception) -> str:
    """The first line of an error (a database driver's names the cause; the rest is SQL and advice)."""
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__
