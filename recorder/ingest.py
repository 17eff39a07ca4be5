"""One worker thread per camera: PyAV pulls RTSP over TCP and remuxes, without decoding, to segments.

Everything that can block runs inside the worker thread, bounded by explicit timeouts: PyAV's open
timeout, FFmpeg's RTSP socket timeout (a camera that accepts the connection and then says nothing
would otherwise hang ``demux`` for ever), and the recorder's watchdog for a session that stays busy
without sending video (see recorder/watchdog.py). A session ends on a read timeout, end of stream or
an error; the worker then waits an exponential backoff with jitter and reconnects.

Packets without pts/dts (and the final flush packet) are skipped; packets before the first keyframe
are dropped; packets sharing one dts (parameter sets sent apart from their IDR) are joined into one
access unit. A timestamp that goes back by less than ``max_timestamp_jump_s`` is nudged forward; one
that goes back further, or runs ahead of the wall clock by more than that, closes the segment and
waits for the next keyframe.

A worker that has caught up with its camera sleeps `read_batch_s` (0.25 s) between reads and then takes
what arrived meanwhile from the socket's buffer at once: a thread woken for every frame spent more CPU
on wake-ups than on the remux (see `CameraWorker._read_packets`).
"""

from __future__ import annotations

import errno
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import av

from recorder.domain import SegmentRecord
from recorder.errors import ConfigError, StreamError, StreamTimeout
from recorder.pacing import LiveEdge, paced_after
from recorder.segments import SegmentWriter
from recorder.stats import FrameStatsAccumulator
from recorder.watchdog import rtsp_endpoints, shut_down_connections

log = logging.getLogger(__name__)
_SNAP_S = 0.1
_GENPTS = av.container.Flags.gen_pts.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Reconnect delays: `initial_s` doubling per failed attempt up to `cap_s`, less up to `jitter`."""

    initial_s: float = 1.0
    cap_s: float = 60.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.cap_s) or not 0 <= self.jitter < 1:
            raise ConfigError("backoff needs 0 < initial_s <= cap_s and 0 <= jitter < 1")


def backoff_delay(attempt: int, backoff: Backoff, rand: float) -> float:
    """Delay before reconnect number `attempt` (0-based); `rand` in [0, 1) spreads cameras apart."""
    base = min(backoff.cap_s, backoff.initial_s * 2 ** min(attempt, 32))
    return base * (1 - backoff.jitter * rand)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestSettings:
    segment_s: float = 60.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)
    max_timestamp_jump_s: float = 10.0
    healthy_after_s: float = 30.0  # a session this long resets the backoff
    # once a read has waited for the camera, sleep this long and then read what arrived meanwhile in one go:
    # a thread woken every packet costs more CPU than the whole remux; 0 reads every packet as it comes
    read_batch_s: float = 0.25

    def __post_init__(self) -> None:
        if not 0 <= self.read_batch_s <= 2:
            raise ConfigError("read_batch_s must be between 0 and 2 seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerState:
    connected: bool
    sessions: int
    reconnects: int
    discontinuities: int
    last_error: str | None
    last_segment: SegmentRecord | None
    segments_written: int = 0  # since the worker started
    bytes_written: int = 0


class _Pipeline:
    """Per-session packet handling: skip, join, keyframe gate, jump detection, segment cutting.

    This runs once per frame for every camera, in threads that share one GIL, so it is kept lean:
    time bases as floats (not `Fraction` arithmetic), the stats counter and settings looked up once
    per session, every packet property read once.
    """

    def __init__(self, worker: CameraWorker, template: av.video.stream.VideoStream):
        self.w = worker
        self.template = template
        self.tb = float(template.time_base)
        self.count_frame = worker.stats.counter(worker.camera_id)
        self.jump = worker.settings.max_timestamp_jump_s
        self.segment_s = worker.settings.segment_s
        self.pending: av.Packet | None = None
        self.pending_at = 0.0
        self.pending_dts = 0
        self.writer: SegmentWriter | None = None
        self.synced = False  # a keyframe has been seen since the session began or the last jump
        self.seg_dts0 = 0
        self.seg_wall0 = 0.0
        self.last_dts: int | None = None  # dts and wall time of the previous frame
        self.last_at = 0.0
        self.duration = 0
        self.frames = 0
        self.prev_end: float | None = None  # wall-clock end of the session's last segment

    def feed(self, pkt: av.Packet, at: float) -> None:
        dts = pkt.dts
        if dts is None or pkt.pts is None or pkt.size == 0:
            return
        pending = self.pending
        if pending is not None:
            if dts == self.pending_dts:
                self.pending = _join(pending, pkt)
                return
            self._emit(pending, self.pending_at, self.pending_dts, dts)
        self.pending, self.pending_at, self.pending_dts = pkt, at, dts

    def finish(self) -> None:
        try:
            if self.pending is not None:
                self._emit(self.pending, self.pending_at, self.pending_dts, None)
        finally:
            self.pending = None
            self._close_segment()

    def _emit(self, pkt: av.Packet, at: float, dts: int, next_dts: int | None) -> None:
        self.frames += 1
        self.count_frame(at, pkt.size)
        last_dts = self.last_dts
        if last_dts is not None:
            step = (dts - last_dts) * self.tb
            jump = self.jump
            if -jump < step <= 0:  # a small step back (camera clock jitter): nudge it on, as ffmpeg does
                dts = pkt.dts = last_dts + 1
                if pkt.pts < dts:
                    pkt.pts = dts
            elif step <= -jump or step - (at - self.last_at) > jump:
                log.warning("%s: timestamp jump of %.3f s; starting a new segment", self.w.camera_id, step)
                self.w._count("discontinuities")
                self._close_segment()
                self.synced, self.prev_end = False, None
        self.last_dts, self.last_at = dts, at
        if next_dts is not None and next_dts > dts:
            self.duration = next_dts - dts
        pkt.duration = self.duration
        writer = self.writer
        if writer is None or not self.synced:
            if not pkt.is_keyframe:
                return
            self.synced = True
            if writer is None:
                writer = self._open_segment(dts, at)
        elif pkt.is_keyframe and writer.stream_seconds >= self.segment_s:
            self._close_segment()
            writer = self._open_segment(dts, at)
        # the segment's wall-clock start: the earliest arrival less the frame's offset into the segment,
        # so frames buffered while the stream was being opened (or delayed on the way) do not skew it
        start = at - (dts - self.seg_dts0) * self.tb
        if start < self.seg_wall0:
            self.seg_wall0 = start
        writer.write(pkt)

    def _open_segment(self, dts: int, at: float) -> SegmentWriter:
        w = self.w
        self.writer = SegmentWriter(w.root, w.camera_id, datetime.fromtimestamp(at, UTC), self.template)
        self.seg_dts0, self.seg_wall0 = dts, at
        return self.writer

    def _close_segment(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            start = self.seg_wall0
            # cut within one unbroken stream: the segment begins where the last ended, unless the two
            # clocks have drifted apart by more than the estimate's jitter (batched reads: a few ms)
            if self.prev_end is not None and abs(start - self.prev_end) < _SNAP_S:
                start = self.prev_end
            record = writer.close(start=datetime.fromtimestamp(start, UTC))
            self.prev_end = None
            if record is not None:
                self.prev_end = record.end.timestamp()
                self.w._segment_done(record)


def _join(a: av.Packet, b: av.Packet) -> av.Packet:
    joined = av.Packet(bytes(a) + bytes(b))
    joined.pts, joined.dts, joined.time_base = a.pts, a.dts, a.time_base
    joined.is_keyframe = a.is_keyframe or b.is_keyframe
    return joined


class CameraWorker:
    """Pulls one camera until stopped. `on_segment` is called (in this thread) for each segment."""

    def __init__(
        self,
        *,
        camera_id: str,
        url: str,
        root: Path,
        settings: IngestSettings,
        stats: FrameStatsAccumulator,
        on_segment: Callable[[SegmentRecord], None],
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ):
        self.camera_id = camera_id
        self.url = url
        self.root = root
        self.settings = settings
        self.stats = stats
        self._on_segment = on_segment
        self._clock = clock
        self._rand = rand
        self._stop = threading.Event()
        self._stopping = False  # what the packet loop checks: cheaper than Event.is_set() per frame
        self._lock = threading.Lock()
        self._state = WorkerState(
            connected=False, sessions=0, reconnects=0, discontinuities=0, last_error=None, last_segment=None
        )
        self._session_frames = 0
        self._pipeline: _Pipeline | None = None  # set while the session is reading packets
        self._session_started = 0.0
        self._peers: set[tuple[str, int]] = set()
        self._abort_reason: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"rec-{camera_id}", daemon=True)

    def start(self) -> None:
        self.stats.track(self.camera_id, self._clock())
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def state(self) -> WorkerState:
        with self._lock:
            return self._state

    def _set(self, **values) -> None:
        with self._lock:
            self._state = replace(self._state, **values)

    def _count(self, name: str) -> None:
        with self._lock:
            self._state = replace(self._state, **{name: getattr(self._state, name) + 1})

    def _segment_done(self, record: SegmentRecord) -> None:
        with self._lock:
            st = self._state
            self._state = replace(st, last_segment=record, segments_written=st.segments_written + 1,
                                  bytes_written=st.bytes_written + record.bytes)
        try:
            self._on_segment(record)
        except Exception:  # the file is safe on disk; start-up reconciliation will index it
            log.exception("%s: indexing segment %s failed", self.camera_id, record.path)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            started = self._clock()
            self._session_frames = 0
            error: dict[str, str] = {}
            try:
                self._session()
            except (av.error.FFmpegError, StreamError, OSError) as e:
                log.info("%s: session ended: %s", self.camera_id, e)
                error["last_error"] = f"{type(e).__name__}: {e}"
            except Exception as e:  # keep the worker alive whatever PyAV throws
                log.exception("%s: unexpected error in session", self.camera_id)
                error["last_error"] = f"{type(e).__name__}: {e}"
            self._set(connected=False, **error)  # one update: a status never says 'down' without 'why'
            if self._stop.is_set():
                break
            if self._session_frames and self._clock() - started >= self.settings.healthy_after_s:
                attempt = 0
            delay = backoff_delay(attempt, self.settings.backoff, self._rand())
            attempt += 1
            self._count("reconnects")
            self._stop.wait(delay)

    def stalled_for(self, now: float) -> float | None:
        """Seconds since this worker's session last received a frame (or began); None outside one.
        Called from the recorder's watchdog thread."""
        pipeline = self._pipeline
        if pipeline is None:
            return None
        return now - max(self._session_started, pipeline.pending_at)

    @property
    def aborting(self) -> bool:
        return self._abort_reason is not None

    def abort_session(self, reason: str) -> int:
        """End the current session from another thread: shut down its connection to the camera, so
        that the blocked read returns. Returns the number of connections shut down."""
        self._abort_reason = reason
        return shut_down_connections(self._peers)

    def _read_packets(self, packets: Iterator[av.Packet], feed: Callable[[av.Packet, float], None],
                      paced: float, time_base: float) -> None:
        """Feed packets until stopped or the stream ends.

        A read that waited `paced` or more for a packet that is not late against the camera's clock
        means the worker has caught up (recorder/pacing.py). Then, instead of a wake-up for every frame
        (every RTP packet, even), the thread sleeps `read_batch_s` and reads what came meanwhile from the
        kernel's buffer in one go. Arrival times are then read times, at most `read_batch_s` late; the
        gaps the monitor looks for are seconds long. When stopping, what is already buffered is still
        written.
        """
        clock, batch, stop = self._clock, self.settings.read_batch_s, self._stop
        edge = LiveEdge(time_base)
        drain_until = None
        while True:
            asked = clock()
            pkt = next(packets, None)
            if pkt is None:
                raise StreamError("end of stream")
            at = clock()
            feed(pkt, at)  # (the pipeline keeps this packet pending: its dts is still the camera's)
            waited = at - asked >= paced
            if self._stopping:
                drain_until = drain_until or at + batch + 1.0
                if waited or at >= drain_until:
                    return
            elif waited and batch and pkt.dts is not None and edge.lateness(at, pkt.dts) < batch:
                stop.wait(batch)

    def _session(self) -> None:
        s = self.settings
        # FFmpeg's socket timeout ends a session whose camera goes silent. PyAV's own read timeout is
        # left off: it is an interrupt callback that takes the GIL on every socket read and poll of
        # every camera. A session that stays busy without video is ended by the recorder's watchdog.
        options = {"rtsp_transport": "tcp", "timeout": str(int(s.read_timeout_s * 1_000_000))}
        self._peers = rtsp_endpoints(self.url)
        self._abort_reason = None
        container = av.open(self.url, options=options, timeout=(s.open_timeout_s, None))
        pipeline: _Pipeline | None = None
        try:
            if not container.streams.video:
                raise StreamError("no video stream")
            stream = container.streams.video[0]
            # PyAV sets GENPTS, which queues every packet to invent missing pts; RTP carries them
            container.flags &= ~_GENPTS
            self._set(connected=True)
            self._count("sessions")
            self.stats.set_connected(self.camera_id, True)
            pipeline = _Pipeline(self, stream)
            self._session_started = self._clock()
            self._pipeline = pipeline
            self._read_packets(container.demux(stream), pipeline.feed, paced_after(stream), float(stream.time_base))
        except av.error.ExitError as e:
            raise StreamTimeout(f"no data within {s.read_timeout_s} s") from e
        except (av.error.FFmpegError, StreamError) as e:
            if self._abort_reason is not None:
                raise StreamTimeout(self._abort_reason) from e
            if getattr(e, "errno", None) == errno.ETIMEDOUT:
                raise StreamTimeout(f"no data within {s.read_timeout_s} s") from e
            raise
        finally:
            self._pipeline = None
            self.stats.set_connected(self.camera_id, False)
            try:
                if pipeline is not None:
                    self._session_frames = pipeline.frames
                    pipeline.finish()
            finally:
                container.close()
