"""RTSP sampling probe: open a stream with PyAV over TCP, demux without decoding, time frame arrivals.

Used only for cameras the recorder is not pulling. Everything PyAV-related happens inside one worker
thread (``av.open`` must run in the thread that reads). PyAV can block forever on a camera that accepts
the connection and sends nothing, so both the open and every read carry a timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import av
import av.error

# Back-to-back packets this close together right after the open are the camera's buffered burst
# (a GOP flushed at once), not its live frame rate.
BURST_SPACING_S = 0.005
# A single blocked read is abandoned after this long; the sample loop then checks its deadline.
READ_SLICE_S = 0.5
INTERRUPT_FLUSH_S = 0.9 * READ_SLICE_S


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameStats:
    frames: int
    fps: float
    max_gap_s: float | None
    bytes: int
    connected: bool


def frame_stats(
    arrivals: Sequence[float], sizes: int, start: float, end: float, connected: bool
) -> FrameStats:
    """Pure: wall-clock frame arrival times (monotonic) within [start, end] -> statistics.

    The first frame after the open and any frames right behind it (each within BURST_SPACING_S of its
    predecessor) are the camera's connect burst: they are left out of fps and gaps, and the measured
    window starts at the burst's last frame. With no frame at all the whole window is one gap.
    """
    if not connected:
        return FrameStats(frames=0, fps=0.0, max_gap_s=None, bytes=0, connected=False)
    if not arrivals:
        return FrameStats(frames=0, fps=0.0, max_gap_s=max(end - start, 0.0), bytes=sizes, connected=True)
    burst_end = 0
    while burst_end + 1 < len(arrivals) and arrivals[burst_end + 1] - arrivals[burst_end] < BURST_SPACING_S:
        burst_end += 1
    t0, live = arrivals[burst_end], arrivals[burst_end + 1 :]
    span = max(end - t0, 1e-9)
    points = [t0, *live, max(end, t0)]
    max_gap = max(b - a for a, b in zip(points, points[1:], strict=False))
    return FrameStats(
        frames=len(arrivals), fps=len(live) / span, max_gap_s=max_gap, bytes=sizes, connected=True
    )


def sample_rtsp(url: str, seconds: float, open_timeout_s: float = 5.0) -> FrameStats:
    """Blocking: sample ``url`` for ``seconds`` after it opens. Returns within about
    open_timeout_s + seconds + READ_SLICE_S."""
    options = {
        "rtsp_transport": "tcp",
        "timeout": str(int(open_timeout_s * 1_000_000)),
        "fflags": "nobuffer",
        # read as little as possible before returning from open: the SDP carries SPS/PPS already
        "probesize": "32", "analyzeduration": "0", "fpsprobesize": "0",
    }
    try:
        container = av.open(url, options=options, timeout=(open_timeout_s, READ_SLICE_S))
    except (av.error.FFmpegError, OSError):
        return FrameStats(frames=0, fps=0.0, max_gap_s=None, bytes=0, connected=False)
    arrivals: list[float] = []
    total = 0
    start = time.monotonic()
    end = start + seconds
    try:
        if not container.streams.video:
            return frame_stats([], 0, start, end, True)
        stream = container.streams.video[0]
        last_pts: object = object()
        eof = False
        read_from = time.monotonic()  # when the pending read started
        last_wait = 0.0  # how long the read that produced the newest frame waited
        deferred = 0  # frames whose arrival time is unknown (see below)
        while not eof and time.monotonic() < end:
            try:
                for packet in container.demux(stream):
                    now = time.monotonic()
                    wait, read_from = now - read_from, now
                    if now > end:
                        break
                    if packet.size == 0:
                        continue
                    total += packet.size
                    # several NAL units of one frame share a timestamp: count frames, not packets
                    if packet.pts is None or packet.pts != last_pts:
                        arrivals.extend([now] * (deferred + 1))
                        deferred, last_wait, last_pts = 0, wait, packet.pts
                else:
                    eof = True
            except av.error.ExitError:
                # A read slice elapsed. FFmpeg's H.264 parser holds each frame until the next one starts
                # and flushes it when interrupted, so a frame that "arrived" exactly at the interrupt
                # really belongs to whenever the next frame shows up.
                if arrivals and last_wait >= INTERRUPT_FLUSH_S:
                    arrivals.pop()
                    deferred += 1
                last_wait, read_from = 0.0, time.monotonic()
                continue
            except (av.error.FFmpegError, OSError):
                break
        end = min(end, time.monotonic())
    finally:
        container.close()
    return frame_stats(arrivals, total, start, end, True)


async def sample_rtsp_async(
    url: str, seconds: float, open_timeout_s: float = 5.0, *, executor: Executor | None = None
) -> FrameStats:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, sample_rtsp, url, seconds, open_timeout_s)
