"""Frame statistics from the recorder's own ingest: frames, rate, longest gap, bytes, connected.

The ingest worker feeds wall-clock arrival times into a `FrameStatsAccumulator` (thread-safe, with one
lock per camera so that cameras never wait for each other). Frames are kept in one-second buckets for
a bounded horizon, so a window of any length up to the horizon can be asked for without keeping every
arrival time. `take(camera_id, now)` drains: it reports the
window since the previous `take`. `RecorderFrameSource` is what the monitor uses instead of its RTSP
sampling probe for cameras the recorder pulls.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from math import floor


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameStats:
    """One camera over one window. `max_gap_s` is the longest stretch without a frame, counted from
    the previous frame (even one before the window) and up to `now`; None if no frame ever came.
    `connected`: the recorder holds an RTSP session to the camera at `now` (a camera that accepts
    sessions but sends nothing is connected with few frames and a long gap)."""

    frames: int
    fps: float
    max_gap_s: float | None
    bytes: int
    connected: bool


class _Bucket:
    __slots__ = ("second", "frames", "bytes", "first", "last", "max_gap")

    def __init__(self, second: int, at: float, nbytes: int):
        self.second = second
        self.frames = 1
        self.bytes = nbytes
        self.first = at
        self.last = at
        self.max_gap = 0.0


class _CameraFrames:
    """One camera's buckets. Its own lock: the camera's worker adds, readers summarise; cameras never
    wait for one another."""

    __slots__ = ("buckets", "tail", "since", "last_take", "connected", "last_frame", "horizon", "lock")

    def __init__(self, now: float, horizon: float):
        self.buckets: deque[_Bucket] = deque()
        self.tail: _Bucket | None = None
        self.since = now
        self.last_take = now
        self.connected = False
        self.last_frame: float | None = None
        self.horizon = horizon
        self.lock = threading.Lock()

    def add(self, at: float, nbytes: int) -> None:
        """One frame arrived at `at` (the ingest hot path: keep it small)."""
        second = floor(at)
        with self.lock:
            b = self.tail
            if b is not None and b.second == second:
                gap = at - b.last
                if gap > b.max_gap:
                    b.max_gap = gap
                b.frames += 1
                b.bytes += nbytes
                b.last = at
            else:
                self.tail = b = _Bucket(second, at, nbytes)
                buckets = self.buckets
                buckets.append(b)
                horizon = at - self.horizon
                while buckets[0].second < horizon:
                    buckets.popleft()
            self.last_frame = at


def _discard(at: float, nbytes: int) -> None:
    return None


class FrameStatsAccumulator:
    """Thread-safe per-camera frame arrival accumulator."""

    def __init__(self, horizon_s: float = 900.0):
        self._horizon = horizon_s
        self._lock = threading.Lock()
        self._cams: dict[str, _CameraFrames] = {}

    def track(self, camera_id: str, now: float) -> None:
        with self._lock:
            self._cams.setdefault(camera_id, _CameraFrames(now, self._horizon))

    def untrack(self, camera_id: str) -> None:
        with self._lock:
            self._cams.pop(camera_id, None)

    def tracked(self, camera_id: str) -> bool:
        with self._lock:
            return camera_id in self._cams

    def _cam(self, camera_id: str) -> _CameraFrames | None:
        with self._lock:
            return self._cams.get(camera_id)

    def set_connected(self, camera_id: str, connected: bool) -> None:
        cam = self._cam(camera_id)
        if cam is not None:
            with cam.lock:
                cam.connected = connected

    def counter(self, camera_id: str) -> Callable[[float, int], None]:
        """`add(at, nbytes)` for one camera, looked up once per session instead of once per frame
        (a no-op for a camera that is not tracked)."""
        cam = self._cam(camera_id)
        return _discard if cam is None else cam.add

    def frame(self, camera_id: str, at: float, nbytes: int) -> None:
        cam = self._cam(camera_id)
        if cam is not None:
            cam.add(at, nbytes)

    def last_frame_at(self, camera_id: str) -> float | None:
        cam = self._cam(camera_id)
        if cam is None:
            return None
        with cam.lock:
            return cam.last_frame

    def window(self, camera_id: str, now: float, window_s: float) -> FrameStats | None:
        """Stats for (now - window_s, now]; None for a camera that is not tracked."""
        cam = self._cam(camera_id)
        if cam is None:
            return None
        with cam.lock:
            return _summarise(cam, now, window_s)

    def take(self, camera_id: str, now: float) -> FrameStats | None:
        """Stats since the previous take (or since tracking began), and start a new window."""
        cam = self._cam(camera_id)
        if cam is None:
            return None
        with cam.lock:
            result = _summarise(cam, now, now - cam.last_take)
            cam.last_take = now
            return result


def _summarise(cam: _CameraFrames, now: float, window_s: float) -> FrameStats:
    start = now - window_s
    frames = nbytes = 0
    prev_last: float | None = None
    max_gap = 0.0
    for b in cam.buckets:
        if b.last <= start:
            prev_last = b.last
            continue
        if b.first > now:
            break
        frames += b.frames
        nbytes += b.bytes
        if prev_last is not None:
            max_gap = max(max_gap, b.first - prev_last)
        max_gap = max(max_gap, b.max_gap)
        prev_last = b.last
    last = cam.last_frame
    gap: float | None
    gap = None if last is None else max(max_gap, now - min(last, now))
    effective = max(min(window_s, now - cam.since), 1e-9)
    return FrameStats(
        frames=frames, fps=frames / effective, max_gap_s=gap, bytes=nbytes, connected=cam.connected
    )


class RecorderFrameSource:
    """The monitor's frame source for cameras the recorder is pulling (None for any other)."""

    def __init__(self, accumulator: FrameStatsAccumulator, clock: Callable[[], float] = time.time):
        self._acc = accumulator
        self._clock = clock

    async def stats(self, camera_id: str, window_s: float) -> FrameStats | None:
        return self._acc.window(camera_id, self._clock(), window_s)
